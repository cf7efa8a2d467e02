"""Offline always: no page, stylesheet or script refers to any host but the app itself."""

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from conftest import make_user, sign_in

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "poster", "srcset", "data"}


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in URL_ATTRIBUTES and value:
                self.urls.extend(v.strip().split(" ")[0] for v in value.split(","))
            if name == "style" and value:
                self.urls.extend(re.findall(r"url\(['\"]?([^'\")]+)", value))


def crawl(session, start_pages):
    """Visit every same-site page and asset reachable by GET from the start pages."""
    seen, queue, external = set(), list(start_pages), []
    while queue:
        url = queue.pop()
        path = urlsplit(url).path
        if path in seen or path in ("/logout",):
            continue
        seen.add(path)
        response = session.get(url)
        body = response.get_data(as_text=True) if response.mimetype.startswith("text") else ""
        found = []
        if response.mimetype == "text/html":
            parser = Links()
            parser.feed(body)
            found = parser.urls
        elif response.mimetype == "text/css":
            found = re.findall(r"url\(['\"]?([^'\")]+)", body) + re.findall(
                r"@import\s+['\"]([^'\"]+)", body)
        for link in found:
            absolute = urljoin("http://localhost" + url, link)
            parts = urlsplit(absolute)
            if parts.scheme in ("data", "mailto"):
                continue
            if parts.netloc != "localhost" or parts.scheme not in ("http", ""):
                external.append((url, link))
            elif "/export/" not in parts.path:
                queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return seen, external


def test_every_page_and_asset_stays_on_this_host(app, client, sample):
    make_user(app, "ada", "admin")
    ada = sign_in(client, "ada")
    pid = ada.post(f"/workshops/{sample['workshop']['id']}/participants",
                   {"language": "en"}).location
    seen, external = crawl(ada, ["/", pid, "/login", "/static/engage.css"])
    assert len(seen) > 15
    assert external == []


def test_the_stylesheet_uses_only_system_fonts(client):
    css = client.get("/static/engage.css").get_data(as_text=True)
    assert "@font-face" not in css and "@import" not in css
    assert "http" not in css
