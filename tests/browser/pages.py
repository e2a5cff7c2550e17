"""What the browser tests do on a page, as a person would: waits for what they look for."""

from collections.abc import Callable
from typing import Literal, TypeVar

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.wait import WebDriverWait

T = TypeVar("T")

# Long enough for a loaded CI machine; every wait returns as soon as its condition holds.
WAIT_SECONDS = 15
# The `operator` fixture's (tests/conftest.py).
OPERATOR = ("ops", "ops-pw-123456")


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], Literal[False] | T], message: str = "") -> T:
    return WebDriverWait(driver, WAIT_SECONDS).until(condition, message)


def visible(driver: WebDriver, css: str) -> WebElement:
    element: WebElement = wait_for(driver, EC.visibility_of_element_located((By.CSS_SELECTOR, css)),
                                   f"nothing visible matches {css!r}")
    return element


def all_present(driver: WebDriver, css: str) -> list[WebElement]:
    elements: list[WebElement] = wait_for(driver, EC.presence_of_all_elements_located((By.CSS_SELECTOR, css)),
                                          f"nothing matches {css!r}")
    return elements


def open_page(driver: WebDriver, url: str, ready_css: str) -> None:
    """Go to `url` and wait until `ready_css` is visible there."""
    driver.get(url)
    visible(driver, ready_css)


def log_in(driver: WebDriver, base_url: str, username: str, password: str) -> None:
    """Through the admin's login form, as an operator does."""
    open_page(driver, f"{base_url}/admin/login/?next=/admin/", "#login-form")
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
    # The user tools (welcome, log out) appear only once the session is there; a refused
    # login stays on the form with its error instead.
    tools = visible(driver, "#user-tools")
    assert username.lower() in tools.text.lower(), tools.text
