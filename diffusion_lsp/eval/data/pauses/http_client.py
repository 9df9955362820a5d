"""A thin retrying JSON client over urllib, for scripts that talk to one internal service."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_TIMEOUT = 10.0
RETRY_STATUSES = {429, 502, 503, 504}


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class Client:
    def __init__(self, base_url, token=None, retries=3, backoff=0.5):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.retries = retries
        self.backoff = backoff

    def _headers(self):
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def url(self, path, **params):
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return f"{self.base_url}/{path.lstrip('/')}" + (f"?{query}" if query else "")

    def request(self, method, path, body=None, **params):
        data = json.dumps(body).encode("utf-8") if body is not None else None
        req = urllib.request.Request(self.url(path, **params), data=data, method=method)
        for key, value in self._headers().items():
            req.add_header(key, value)
        for attempt in range(self.retries + 1):
            try:
                with urllib.request.urlopen(req, timeout=DEFAULT_TIMEOUT) as response:
                    payload = response.read().decode("utf-8")
                    return json.loads(payload) if payload else None
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRY_STATUSES or attempt == self.retries:
                    raise ApiError(exc.code, exc.reason) from exc
            time.sleep(self.backoff * 2**attempt)
        return None

    def get(self, path, **params):
        return self.request("GET", path, **params)

    def post(self, path, body):
        return self.request("POST", path, body=body)

    def paginate(self, path, page_size=100):
        page = 1
        while True:
            batch = self.get(path, page=page, per_page=page_size)
            if not batch:
                break
            yield from batch
            page += 1


def user_emails(client):
    emails = []
    for user in client.paginate("/users"):
        if user.get("active"):
            emails.append(user["email"])
    return sorted(emails)
