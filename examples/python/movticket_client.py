"""A movticket partner API client in Python 3.11, standard library only.

Written from docs/channel-guide.en.md: signing (section 5), envelopes in XML and JSON (3.1, 3.2),
retries with the same req_id (7, 11) and callback signatures (14). `demo.py` walks the
purchase flows with it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

COMMON_PARAMS = ("partner_id", "sec_id", "bus_id", "req_id", "ver", "timestamp")
BASIC_PARAMS = ("partner_id", "bus_id", "req_id", "timestamp")

# Each interface's own parameters in the order of its table in section 8: the `full` signing order.
INTERFACE_PARAMS = {
    "cities": (),
    "regionsByCity": ("city_id",),
    "cinemasByRegion": ("region_id",),
    "buyByCinema": ("cinema_id", "count", "order_no"),
    "kinds": (),
    "cinemasByKind": ("kind_id", "city_id"),
    "buyByKind": ("kind_id", "count", "order_no"),
    "payByCard": ("card_no", "mobile", "total_price"),
    "status": ("card_no", "order_no"),
    "ban": ("card_no", "reason"),
    "resendSms": ("card_no", "mobile"),
}

# Section 3.2: the only elements that are lists. Any other childless element is a string.
XML_LISTS = frozenset({"cities", "regions", "kinds", "cinemas"})

# The order of a callback's signed parameters (section 14); hashcode follows them.
CALLBACK_PARAMS = (
    "partner_id", "sec_id", "event_id", "event_type", "card_no", "seq", "status",
    "used_count", "remaining", "occurred_at", "timestamp",
)

# Answers retried with the same req_id (sections 7.3, 11); anything else is final for this req_id.
RETRYABLE_TYPES = frozenset({"internal", "unavailable", "timeout", "rate_limited"})


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def signing_string(mode: str, params: list[tuple[str, str]], md5key: str) -> str:
    """The string whose md5 is the hashcode. `params` in wire order, without format/hashcode."""
    if mode == "basic":
        values = dict(params)
        return "".join(values[name] for name in BASIC_PARAMS) + md5key
    return "".join(value for name, value in params if name not in ("format", "hashcode")) + md5key


def hashcode(mode: str, params: list[tuple[str, str]], md5key: str) -> str:
    return md5_hex(signing_string(mode, params, md5key))


def verify_callback(form: dict[str, str], md5key: str) -> bool:
    """Whether a callback's hashcode matches its parameters (section 14: the `full` rule)."""
    if any(name not in form for name in CALLBACK_PARAMS) or "hashcode" not in form:
        return False
    expected = md5_hex("".join(form[name] for name in CALLBACK_PARAMS) + md5key)
    return hmac.compare_digest(expected, form["hashcode"].lower())


class ApiError(Exception):
    """An error envelope, or no usable answer at all (code 0, type network_error)."""

    def __init__(self, method: str, code: int, type_: str, message: str, req_id: str,
                 extra: dict[str, str] | None = None):
        super().__init__(f"{method}: {code} {type_}: {message}")
        self.method, self.code, self.type, self.message = method, code, type_, message
        self.req_id = req_id
        self.extra = extra or {}


def _xml_value(el: ET.Element):
    if el.tag in XML_LISTS:
        return [_xml_value(item) for item in el]
    if len(el):
        return {child.tag: _xml_value(child) for child in el}
    return el.text or ""


def parse_envelope(body: bytes, content_type: str) -> dict:
    """Either format into one shape: {"code": int, "data": {...}} or {"code": int, "error": {...}}."""
    if "json" in content_type:
        return json.loads(body.decode("utf-8"))
    root = ET.fromstring(body)
    out: dict = {"code": int(root.findtext("code", "0"))}
    data, error = root.find("data"), root.find("error")
    if data is not None:
        out["data"] = {child.tag: _xml_value(child) for child in data}
    if error is not None:
        out["error"] = {child.tag: child.text or "" for child in error}
    return out


def new_req_id() -> str:
    return time.strftime("%y%m%d%H%M%S") + secrets.token_hex(4)[:8]


@dataclass
class Client:
    base_url: str
    partner_id: str
    bus_id: str
    sec_id: str
    md5key: str
    sign_mode: str = "full"
    fmt: str = "json"
    tz: str = "Asia/Shanghai"
    timeout: float = 10.0
    attempts: int = 4
    retry_delay: float = 0.2
    max_retry_after: float = 5.0
    log: Callable[[str], None] | None = None

    def timestamp(self) -> str:
        return datetime.now(ZoneInfo(self.tz)).strftime("%Y%m%d%H%M%S")

    @staticmethod
    def check_params(method: str, params: dict[str, str]) -> None:
        if method not in INTERFACE_PARAMS:
            raise ValueError(f"unknown interface {method}")
        unknown = set(params) - set(INTERFACE_PARAMS[method])
        if unknown:
            raise ValueError(f"{method} takes no {sorted(unknown)}")

    def form(self, method: str, params: dict[str, str], req_id: str) -> list[tuple[str, str]]:
        self.check_params(method, params)
        fields = [
            ("partner_id", self.partner_id), ("sec_id", self.sec_id), ("bus_id", self.bus_id),
            ("req_id", req_id), ("ver", "1000"), ("timestamp", self.timestamp()),
        ]
        # Own parameters in table order, absent optional ones skipped (not sent empty).
        fields += [(name, params[name]) for name in INTERFACE_PARAMS[method] if name in params]
        fields.append(("hashcode", hashcode(self.sign_mode, fields, self.md5key)))
        fields.append(("format", self.fmt))
        return fields

    def send_once(self, method: str, params: dict[str, str], req_id: str) -> tuple[int, dict, dict]:
        """One attempt: (HTTP status, envelope, headers). Raises OSError on a network failure."""
        body = urllib.parse.urlencode(self.form(method, params, req_id)).encode("ascii")
        request = urllib.request.Request(
            f"{self.base_url}/movTicket/{method}", data=body, method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as res:
                return res.status, parse_envelope(res.read(), res.headers.get("Content-Type", "")), dict(res.headers)
        except urllib.error.HTTPError as res:
            return res.code, parse_envelope(res.read(), res.headers.get("Content-Type", "")), dict(res.headers)

    def call(self, method: str, params: dict[str, str] | None = None, req_id: str | None = None) -> dict:
        """Calls an interface and returns its data; retries with the same req_id and parameters."""
        params = params or {}
        self.check_params(method, params)  # a mistake in the call is not worth retrying
        req_id = req_id or new_req_id()
        delay = self.retry_delay
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            try:
                status, envelope, headers = self.send_once(method, params, req_id)
            except (OSError, ValueError, ET.ParseError) as err:  # no answer, or not an envelope: it may have run
                if last:
                    raise ApiError(method, 0, "network_error", str(err), req_id) from err
                self._retrying(method, req_id, f"network error {err}")
            else:
                if "data" in envelope:
                    return envelope["data"]
                error = envelope.get("error", {})
                type_ = error.get("type", "")
                wait = delay
                if type_ == "rate_limited":
                    wait = float(headers.get("Retry-After", delay))
                    if wait > self.max_retry_after:
                        last = True  # e.g. the daily resend cap: not worth waiting for here
                if type_ not in RETRYABLE_TYPES or last:
                    extra = {k: v for k, v in error.items() if k not in ("type", "message")}
                    raise ApiError(method, status, type_, error.get("message", ""), req_id, extra)
                self._retrying(method, req_id, f"{status} {type_}")
                delay = wait
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _retrying(self, method: str, req_id: str, why: str) -> None:
        if self.log:
            self.log(f"  retrying {method} with the same req_id {req_id} after {why}")
