"""Walks the movticket partner API with movticket_client.py and prints one line per check.

    MT_MD5KEY=<md5key printed by npm start> python3 examples/python/demo.py

Settings (environment): see README.md. Exit code 0 only when every check passed.
"""

from __future__ import annotations

import os
import re
import sys
import urllib.parse
from dataclasses import replace

from movticket_client import ApiError, Client, hashcode, new_req_id, signing_string, verify_callback

# A server without order_no in `status` refuses it (section 8.9); until every server has it,
# that step only reports. Set True (or MT_REQUIRE_ORDER_NO_RECOVERY=1) to make it a failure.
REQUIRE_ORDER_NO_RECOVERY = False

GUIDE_KEY = "e10adc3949ba59abbe56e057f20f883e"
# A callback body signed by the platform with GUIDE_KEY (section 14).
SAMPLE_CALLBACK = (
    "partner_id=CS000001&sec_id=test&event_id=3f2c1a9e-5b7d-4e8f-9a6b-1c2d3e4f5a6b&event_type=banned"
    "&card_no=6260181590830162&seq=3&status=banned&used_count=0&remaining=1"
    "&occurred_at=20250301101500&timestamp=20250301101501&hashcode=779b9f4c7b4cb898540562dd83b61ab0"
)

env = os.environ
passed = failed = 0


def check(name: str, ok: bool, detail: str = "") -> bool:
    global passed, failed
    if ok:
        passed += 1
        print(f"ok    {name}")
    else:
        failed += 1
        print(f"FAIL  {name}{': ' + detail if detail else ''}")
    return ok


def note(text: str) -> None:
    print(f"      {text}")


def refused(fn, expected_type: str) -> tuple[bool, str, ApiError | None]:
    try:
        fn()
    except ApiError as err:
        return err.type == expected_type, f"{err.code} {err.type}", err
    return False, "succeeded", None


def fen(amount: str) -> int:
    """Money on the wire is yuan with two decimals ("35.00"); count in integer fen."""
    yuan_part, _, cents = amount.partition(".")
    return int(yuan_part) * 100 + int((cents + "00")[:2])


def yuan(fen_amount: int) -> str:
    return f"{fen_amount // 100}.{fen_amount % 100:02d}"


def form(body: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(body, keep_blank_values=True))


def check_signing() -> None:
    basic = [("partner_id", "CS000001"), ("sec_id", "test"), ("bus_id", "1002758"),
             ("req_id", "2012010100000001"), ("ver", "1000"), ("timestamp", "20121225020202")]
    check("sign basic: guide 5.3 vector", hashcode("basic", basic, GUIDE_KEY) == "c2ea37696f3f4b09f911a8c6dab43264")
    full = [("partner_id", "CS000001"), ("sec_id", "test"), ("bus_id", "1002758"),
            ("req_id", "2012010100000002"), ("ver", "1000"), ("timestamp", "20121225020202"),
            ("card_no", "6281234567890123"), ("mobile", "13812345678")]
    check("sign full: guide 5.3 signed string",
          signing_string("full", full, GUIDE_KEY)
          == "CS000001test10027582012010100000002100020121225020202628123456789012313812345678" + GUIDE_KEY)
    check("sign full: guide 5.3 vector", hashcode("full", full, GUIDE_KEY) == "7a27021fdd92e04520656f58003e4748")


def check_callbacks(keys: dict[str, str]) -> None:
    sample = form(SAMPLE_CALLBACK)
    check("callback: platform-signed sample accepted", verify_callback(sample, GUIDE_KEY))
    check("callback: sample with status changed refused", not verify_callback({**sample, "status": "active"}, GUIDE_KEY))
    check("callback: sample with another md5key refused", not verify_callback(sample, "0" * 32))
    body = env.get("MT_CALLBACK_BODY")
    if body:
        received = form(body)
        key = keys.get(received.get("sec_id", ""))
        check("callback: MT_CALLBACK_BODY verified with the md5key of its sec_id",
              key is not None and verify_callback(received, key), f"sec_id {received.get('sec_id')}")


def flow_by_cinema(client: Client, mobile: str) -> None:
    label = f"{client.sign_mode}/{client.fmt}"
    cities = client.call("cities")["cities"]
    check(f"cities [{label}]: a list of cities", isinstance(cities, list) and len(cities) > 0)
    city = cities[0]
    regions = client.call("regionsByCity", {"city_id": city["code_id"]})["regions"]
    check(f"regionsByCity {city['code_id']} [{label}]", isinstance(regions, list) and len(regions) > 0)
    cinemas = client.call("cinemasByRegion", {"region_id": regions[0]["code_id"]})["cinemas"]
    check(f"cinemasByRegion {regions[0]['code_id']} [{label}]", isinstance(cinemas, list) and len(cinemas) > 0)
    cinema = cinemas[0]
    order_no = "py" + new_req_id()
    card = client.call("buyByCinema", {"cinema_id": cinema["cinema_id"], "count": "2", "order_no": order_no})["card"]
    expected_total = yuan(2 * fen(cinema["price"]))
    check(f"buyByCinema {cinema['cinema_id']} x2 [{label}]: inactive, total = 2 x price",
          card["status"] == "inactive" and card["total_price"] == expected_total and card["kind_id"] == "",
          f"{card}")
    pay = {"card_no": card["card_no"], "mobile": mobile, "total_price": card["total_price"]}
    pay_req_id = new_req_id()
    paid = client.call("payByCard", pay, req_id=pay_req_id)["card"]
    check(f"payByCard [{label}]: active with an 8-digit password",
          paid["status"] == "active" and re.fullmatch(r"[0-9]{8}", paid["password"]) is not None)
    # The answer of a payment can be lost on the way back; the retry carries the same req_id.
    again = client.call("payByCard", pay, req_id=pay_req_id)["card"]
    check(f"payByCard retried with the same req_id [{label}]: the original answer, same password",
          again["password"] == paid["password"] and again["paid_at"] == paid["paid_at"])
    ok, got, _ = refused(lambda: client.call("payByCard", {**pay, "mobile": "13900139000"}, req_id=pay_req_id),
                         "duplicate_req_id")
    check(f"same req_id with another mobile [{label}]: 409 duplicate_req_id", ok, got)
    status = client.call("status", {"card_no": card["card_no"]})["card"]
    check(f"status [{label}]: active, order_no kept, mobile masked",
          status["status"] == "active" and status["order_no"] == order_no and "****" in status["mobile"], f"{status}")


def flow_by_kind(client: Client, mobile: str) -> None:
    label = f"{client.sign_mode}/{client.fmt}"
    kinds = client.call("kinds")["kinds"]
    check(f"kinds [{label}]", isinstance(kinds, list) and len(kinds) > 0)
    kind = kinds[0]
    cinemas = client.call("cinemasByKind", {"kind_id": kind["kind_id"]})["cinemas"]
    check(f"cinemasByKind {kind['kind_id']} [{label}]", isinstance(cinemas, list) and len(cinemas) > 0)
    card = client.call("buyByKind", {"kind_id": kind["kind_id"], "count": "1"})["card"]
    # <cinema_id></cinema_id> is the empty string: only cities/regions/kinds/cinemas are lists.
    check(f"buyByKind {kind['kind_id']} [{label}]: inactive, cinema_id is an empty string",
          card["status"] == "inactive" and card["cinema_id"] == "" and card["kind_id"] == kind["kind_id"], f"{card}")
    paid = client.call("payByCard", {"card_no": card["card_no"], "mobile": mobile, "total_price": card["total_price"]})
    check(f"payByCard [{label}]: active", paid["card"]["status"] == "active")
    status = client.call("status", {"card_no": card["card_no"]})["card"]
    check(f"status [{label}]: active, valid_until set", status["status"] == "active" and len(status["valid_until"]) == 14)

    unpaid = client.call("buyByKind", {"kind_id": kind["kind_id"], "count": "1"})["card"]
    banned = client.call("ban", {"card_no": unpaid["card_no"], "reason": "用户取消订单"})["card"]
    check(f"ban of an unpaid card [{label}]: banned", banned["status"] == "banned" and banned["banned_at"] != "")
    ok, got, _ = refused(lambda: client.call("payByCard", {"card_no": unpaid["card_no"], "mobile": mobile}),
                         "card_state")
    check(f"payByCard of the banned card [{label}]: 406 card_state", ok, got)


def lost_buy_recovered(client: Client, strict: bool) -> None:
    label = f"{client.sign_mode}/{client.fmt}"
    kind_id = client.call("kinds")["kinds"][0]["kind_id"]
    order_no = "lost" + new_req_id()
    client.call("buyByKind", {"kind_id": kind_id, "count": "1", "order_no": order_no})  # answer "lost"
    try:
        found = client.call("status", {"order_no": order_no})["card"]
    except ApiError as err:
        # Such a server does not know the parameter: `invalid_param` (card_no missing), or in
        # `full` mode `invalid_signature`, since it does not sign a parameter it does not know.
        if err.type in ("invalid_param", "invalid_signature") and not strict:
            note("order_no recovery: not supported by this server")
            return
        check(f"lost buy found by status with order_no [{label}]", False, f"{err.code} {err.type}: {err.message}")
        return
    check(f"lost buy found by status with order_no [{label}]: the inactive card of that order",
          found["order_no"] == order_no and found["status"] == "inactive" and len(found["card_no"]) == 16, f"{found}")
    ok, got, err = refused(lambda: client.call("buyByKind", {"kind_id": kind_id, "count": "1", "order_no": order_no}),
                           "order_exists")
    check(f"second buy of that order_no, new req_id [{label}]: 409 order_exists naming the card",
          ok and err is not None and err.code == 409 and err.extra.get("card_no") == found["card_no"],
          f"{got} {err.extra if err else ''}")


def main() -> int:
    md5key = env.get("MT_MD5KEY")
    if not md5key:
        print("MT_MD5KEY is not set: start the platform with `npm start` and pass the md5key it prints.")
        return 2
    mobile = env.get("MT_MOBILE", "13800138000")
    common = dict(base_url=env.get("MT_URL", "http://127.0.0.1:8080").rstrip("/"),
                  partner_id=env.get("MT_PARTNER_ID", "CS000001"), bus_id=env.get("MT_BUS_ID", "1002758"),
                  tz=env.get("MT_TZ", "Asia/Shanghai"), log=note)
    primary = Client(sec_id=env.get("MT_SEC_ID", "test"), md5key=md5key,
                     sign_mode=env.get("MT_SIGN_MODE", "basic"), **common)
    keys = {primary.sec_id: md5key}
    full = None
    if env.get("MT_FULL_SEC_ID") and env.get("MT_FULL_MD5KEY"):
        full = Client(sec_id=env["MT_FULL_SEC_ID"], md5key=env["MT_FULL_MD5KEY"], sign_mode="full", **common)
        keys[full.sec_id] = full.md5key
    strict = REQUIRE_ORDER_NO_RECOVERY or env.get("MT_REQUIRE_ORDER_NO_RECOVERY") == "1"

    print(f"movticket partner API at {primary.base_url}, partner {primary.partner_id}")
    check_signing()
    check_callbacks(keys)
    try:
        xml_cities = replace(primary, fmt="xml").call("cities")["cities"]
        json_cities = primary.call("cities")["cities"]
        check("cities: the XML and the JSON answer agree", xml_cities == json_cities and len(json_cities) > 0)
        wrong = replace(primary, md5key="0" * 32)
        ok, got, _ = refused(lambda: wrong.call("cities"), "invalid_signature")
        check("a wrong md5key: 401 invalid_signature, not retried", ok, got)

        second = full or primary
        if full is None:
            note("full mode: no MT_FULL_SEC_ID/MT_FULL_MD5KEY given; live calls use the primary key only")
        flow_by_cinema(replace(second, fmt="xml"), mobile)
        flow_by_kind(primary, mobile)
        flow_by_kind(replace(second, fmt="xml"), mobile)
        lost_buy_recovered(second, strict)
        lost_buy_recovered(replace(primary, fmt="xml"), strict)
    except ApiError as err:
        check("the walk finished", False, f"{err} (req_id {err.req_id})")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
