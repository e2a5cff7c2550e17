"""A reference compute worker for the Orchestrator.

Talks to the Orchestrator only through its v1 HTTP API, with the repository's client
(`orchestrator_client`), and imports nothing from the Django project, so it installs and
runs on any machine that reaches the API and the Storage: `pip install -r
compute/requirements.txt` at the checkout's root, then `python -m compute --help`.
"""
