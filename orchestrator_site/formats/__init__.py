"""The project's date and time formats (FORMAT_MODULE_PATH), ahead of Django's own."""
