import java.time.ZoneId;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Walks the movticket partner API with {@link MovTicketClient} and prints one line per check.
 *
 * <pre>
 *   javac -d out examples/java/*.java
 *   MT_MD5KEY=&lt;md5key printed by npm start&gt; java -cp out MovTicketDemo
 * </pre>
 *
 * Settings (environment): see README.md. Exit code 0 only when every check passed.
 */
public final class MovTicketDemo {
  /**
   * A server without order_no in `status` refuses it (section 8.9); until every server has it,
   * that step only reports. Set true (or MT_REQUIRE_ORDER_NO_RECOVERY=1) to make it a failure.
   */
  static final boolean REQUIRE_ORDER_NO_RECOVERY = false;

  static final String GUIDE_KEY = "e10adc3949ba59abbe56e057f20f883e";
  /** A callback body signed by the platform with GUIDE_KEY (section 14). */
  static final String SAMPLE_CALLBACK =
      "partner_id=CS000001&sec_id=test&event_id=3f2c1a9e-5b7d-4e8f-9a6b-1c2d3e4f5a6b&event_type=banned"
          + "&card_no=6260181590830162&seq=3&status=banned&used_count=0&remaining=1"
          + "&occurred_at=20250301101500&timestamp=20250301101501&hashcode=779b9f4c7b4cb898540562dd83b61ab0";

  static int passed, failed;

  static boolean check(String name, boolean ok, Object... detail) {
    if (ok) {
      passed++;
      System.out.println("ok    " + name);
    } else {
      failed++;
      System.out.println("FAIL  " + name + " " + java.util.Arrays.toString(detail));
    }
    return ok;
  }

  static void note(String text) {
    System.out.println("      " + text);
  }

  static String env(String name, String fallback) {
    String v = System.getenv(name);
    return v == null || v.isEmpty() ? fallback : v;
  }

  interface Call {
    Map<String, Object> run() throws MovTicketClient.ApiException;
  }

  /** Runs the call expecting a refusal; returns the error, or null if it succeeded. */
  static MovTicketClient.ApiException refusal(Call call) {
    try {
      call.run();
      return null;
    } catch (MovTicketClient.ApiException e) {
      return e;
    }
  }

  static Map<String, String> params(String... kv) {
    Map<String, String> out = new LinkedHashMap<>();
    for (int i = 0; i + 1 < kv.length; i += 2) out.put(kv[i], kv[i + 1]);
    return out;
  }

  static List<String[]> pairs(String... kv) {
    List<String[]> out = new ArrayList<>();
    for (int i = 0; i + 1 < kv.length; i += 2) out.add(new String[] {kv[i], kv[i + 1]});
    return out;
  }

  @SuppressWarnings("unchecked")
  static List<Map<String, Object>> list(Map<String, Object> data, String key) {
    return (List<Map<String, Object>>) data.get(key);
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> card(Map<String, Object> data) {
    return (Map<String, Object>) data.get("card");
  }

  static String str(Map<String, Object> m, String key) {
    return m.get(key) instanceof String s ? s : null;
  }

  /** Money on the wire is yuan with two decimals ("35.00"); count in integer fen. */
  static long fen(String amount) {
    String[] parts = amount.split("\\.", 2);
    long cents = parts.length == 2 ? Long.parseLong((parts[1] + "00").substring(0, 2)) : 0;
    return Long.parseLong(parts[0]) * 100 + cents;
  }

  static String yuan(long fen) {
    return String.format("%d.%02d", fen / 100, fen % 100);
  }

  static String label(MovTicketClient c) {
    return c.signMode + "/" + c.format;
  }

  static void checkSigning() {
    List<String[]> basic = pairs("partner_id", "CS000001", "sec_id", "test", "bus_id", "1002758",
        "req_id", "2012010100000001", "ver", "1000", "timestamp", "20121225020202");
    check("sign basic: guide 5.3 vector",
        MovTicketClient.hashcode("basic", basic, GUIDE_KEY).equals("c2ea37696f3f4b09f911a8c6dab43264"));
    List<String[]> full = pairs("partner_id", "CS000001", "sec_id", "test", "bus_id", "1002758",
        "req_id", "2012010100000002", "ver", "1000", "timestamp", "20121225020202",
        "card_no", "6281234567890123", "mobile", "13812345678");
    check("sign full: guide 5.3 signed string", MovTicketClient.signingString("full", full, GUIDE_KEY)
        .equals("CS000001test10027582012010100000002100020121225020202628123456789012313812345678" + GUIDE_KEY));
    check("sign full: guide 5.3 vector",
        MovTicketClient.hashcode("full", full, GUIDE_KEY).equals("7a27021fdd92e04520656f58003e4748"));
  }

  static void checkCallbacks(Map<String, String> keys) {
    Map<String, String> sample = MovTicketClient.parseForm(SAMPLE_CALLBACK);
    check("callback: platform-signed sample accepted", MovTicketClient.verifyCallback(sample, GUIDE_KEY));
    Map<String, String> tampered = new LinkedHashMap<>(sample);
    tampered.put("status", "active");
    check("callback: sample with status changed refused", !MovTicketClient.verifyCallback(tampered, GUIDE_KEY));
    check("callback: sample with another md5key refused", !MovTicketClient.verifyCallback(sample, "0".repeat(32)));
    String body = System.getenv("MT_CALLBACK_BODY");
    if (body != null && !body.isEmpty()) {
      Map<String, String> received = MovTicketClient.parseForm(body);
      String key = keys.get(received.get("sec_id"));
      check("callback: MT_CALLBACK_BODY verified with the md5key of its sec_id",
          key != null && MovTicketClient.verifyCallback(received, key), received.get("sec_id"));
    }
  }

  static void flowByCinema(MovTicketClient c, String mobile) throws MovTicketClient.ApiException {
    String l = label(c);
    List<Map<String, Object>> cities = list(c.call("cities", Map.of()), "cities");
    check("cities [" + l + "]: a list of cities", !cities.isEmpty());
    String city = str(cities.get(0), "code_id");
    List<Map<String, Object>> regions = list(c.call("regionsByCity", params("city_id", city)), "regions");
    check("regionsByCity " + city + " [" + l + "]", !regions.isEmpty());
    String region = str(regions.get(0), "code_id");
    List<Map<String, Object>> cinemas = list(c.call("cinemasByRegion", params("region_id", region)), "cinemas");
    check("cinemasByRegion " + region + " [" + l + "]", !cinemas.isEmpty());
    Map<String, Object> cinema = cinemas.get(0);
    String orderNo = "java" + MovTicketClient.newReqId();
    Map<String, Object> bought = card(c.call("buyByCinema",
        params("cinema_id", str(cinema, "cinema_id"), "count", "2", "order_no", orderNo)));
    check("buyByCinema " + str(cinema, "cinema_id") + " x2 [" + l + "]: inactive, total = 2 x price",
        "inactive".equals(str(bought, "status")) && yuan(2 * fen(str(cinema, "price"))).equals(str(bought, "total_price"))
            && "".equals(str(bought, "kind_id")), bought);
    Map<String, String> pay = params("card_no", str(bought, "card_no"), "mobile", mobile, "total_price", str(bought, "total_price"));
    String payReqId = MovTicketClient.newReqId();
    Map<String, Object> paid = card(c.call("payByCard", pay, payReqId));
    check("payByCard [" + l + "]: active with an 8-digit password",
        "active".equals(str(paid, "status")) && str(paid, "password").matches("[0-9]{8}"));
    // The answer of a payment can be lost on the way back; the retry carries the same req_id.
    Map<String, Object> again = card(c.call("payByCard", pay, payReqId));
    check("payByCard retried with the same req_id [" + l + "]: the original answer, same password",
        Objects.equals(str(again, "password"), str(paid, "password")) && Objects.equals(str(again, "paid_at"), str(paid, "paid_at")));
    Map<String, String> otherMobile = new LinkedHashMap<>(pay);
    otherMobile.put("mobile", "13900139000");
    MovTicketClient.ApiException e = refusal(() -> c.call("payByCard", otherMobile, payReqId));
    check("same req_id with another mobile [" + l + "]: 409 duplicate_req_id", e != null && e.type.equals("duplicate_req_id"), e);
    Map<String, Object> status = card(c.call("status", params("card_no", pay.get("card_no"))));
    check("status [" + l + "]: active, order_no kept, mobile masked", "active".equals(str(status, "status"))
        && orderNo.equals(str(status, "order_no")) && str(status, "mobile").contains("****"), status);
  }

  static void flowByKind(MovTicketClient c, String mobile) throws MovTicketClient.ApiException {
    String l = label(c);
    List<Map<String, Object>> kinds = list(c.call("kinds", Map.of()), "kinds");
    check("kinds [" + l + "]", !kinds.isEmpty());
    String kind = str(kinds.get(0), "kind_id");
    check("cinemasByKind " + kind + " [" + l + "]", !list(c.call("cinemasByKind", params("kind_id", kind)), "cinemas").isEmpty());
    Map<String, Object> bought = card(c.call("buyByKind", params("kind_id", kind, "count", "1")));
    // <cinema_id></cinema_id> is the empty string: only cities/regions/kinds/cinemas are lists.
    check("buyByKind " + kind + " [" + l + "]: inactive, cinema_id is an empty string", "inactive".equals(str(bought, "status"))
        && "".equals(bought.get("cinema_id")) && kind.equals(str(bought, "kind_id")), bought);
    String cardNo = str(bought, "card_no");
    Map<String, Object> paid = card(c.call("payByCard", params("card_no", cardNo, "mobile", mobile, "total_price", str(bought, "total_price"))));
    check("payByCard [" + l + "]: active", "active".equals(str(paid, "status")));
    Map<String, Object> status = card(c.call("status", params("card_no", cardNo)));
    check("status [" + l + "]: active, valid_until set", "active".equals(str(status, "status")) && str(status, "valid_until").length() == 14);

    String unpaid = str(card(c.call("buyByKind", params("kind_id", kind, "count", "1"))), "card_no");
    Map<String, Object> banned = card(c.call("ban", params("card_no", unpaid, "reason", "用户取消订单")));
    check("ban of an unpaid card [" + l + "]: banned", "banned".equals(str(banned, "status")) && !str(banned, "banned_at").isEmpty());
    MovTicketClient.ApiException e = refusal(() -> c.call("payByCard", params("card_no", unpaid, "mobile", mobile)));
    check("payByCard of the banned card [" + l + "]: 406 card_state", e != null && e.type.equals("card_state"), e);
  }

  static void lostBuyRecovered(MovTicketClient c, boolean strict) throws MovTicketClient.ApiException {
    String l = label(c);
    String kind = str(list(c.call("kinds", Map.of()), "kinds").get(0), "kind_id");
    String orderNo = "lost" + MovTicketClient.newReqId();
    Map<String, String> buy = params("kind_id", kind, "count", "1", "order_no", orderNo);
    c.call("buyByKind", buy); // the answer is "lost"
    Map<String, Object> found;
    try {
      found = card(c.call("status", params("order_no", orderNo)));
    } catch (MovTicketClient.ApiException e) {
      // Such a server does not know the parameter: invalid_param (card_no missing), or in full
      // mode invalid_signature, since it does not sign a parameter it does not know.
      if ((e.type.equals("invalid_param") || e.type.equals("invalid_signature")) && !strict) {
        note("order_no recovery: not supported by this server");
        return;
      }
      check("lost buy found by status with order_no [" + l + "]", false, e);
      return;
    }
    check("lost buy found by status with order_no [" + l + "]: the inactive card of that order",
        orderNo.equals(str(found, "order_no")) && "inactive".equals(str(found, "status")) && str(found, "card_no").length() == 16, found);
    MovTicketClient.ApiException e = refusal(() -> c.call("buyByKind", buy));
    check("second buy of that order_no, new req_id [" + l + "]: 409 order_exists naming the card",
        e != null && e.type.equals("order_exists") && e.code == 409 && Objects.equals(e.extra.get("card_no"), str(found, "card_no")), e);
  }

  public static void main(String[] args) {
    String md5key = System.getenv("MT_MD5KEY");
    if (md5key == null || md5key.isEmpty()) {
      System.out.println("MT_MD5KEY is not set: start the platform with `npm start` and pass the md5key it prints.");
      System.exit(2);
    }
    String mobile = env("MT_MOBILE", "13800138000");
    MovTicketClient primary = new MovTicketClient(env("MT_URL", "http://127.0.0.1:8080").replaceAll("/+$", ""),
        env("MT_PARTNER_ID", "CS000001"), env("MT_BUS_ID", "1002758"), env("MT_SEC_ID", "test"), md5key,
        env("MT_SIGN_MODE", "basic"), "json", ZoneId.of(env("MT_TZ", "Asia/Shanghai")));
    primary.log = MovTicketDemo::note;
    Map<String, String> keys = new HashMap<>(Map.of(primary.secId, md5key));
    MovTicketClient second = primary;
    String fullSecId = System.getenv("MT_FULL_SEC_ID"), fullKey = System.getenv("MT_FULL_MD5KEY");
    if (fullSecId != null && !fullSecId.isEmpty() && fullKey != null && !fullKey.isEmpty()) {
      second = primary.withKey(fullSecId, fullKey, "full");
      keys.put(fullSecId, fullKey);
    } else {
      note("full mode: no MT_FULL_SEC_ID/MT_FULL_MD5KEY given; live calls use the primary key only");
    }
    boolean strict = REQUIRE_ORDER_NO_RECOVERY || "1".equals(System.getenv("MT_REQUIRE_ORDER_NO_RECOVERY"));

    System.out.println("movticket partner API at " + primary.baseUrl + ", partner " + primary.partnerId);
    checkSigning();
    checkCallbacks(keys);
    try {
      Map<String, Object> xmlCities = primary.withFormat("xml").call("cities", Map.of());
      Map<String, Object> jsonCities = primary.call("cities", Map.of());
      check("cities: the XML and the JSON answer agree", xmlCities.equals(jsonCities) && !list(jsonCities, "cities").isEmpty());
      MovTicketClient wrong = primary.withKey(primary.secId, "0".repeat(32), primary.signMode);
      MovTicketClient.ApiException e = refusal(() -> wrong.call("cities", Map.of()));
      check("a wrong md5key: 401 invalid_signature, not retried", e != null && e.type.equals("invalid_signature"), e);

      flowByCinema(second.withFormat("xml"), mobile);
      flowByKind(primary, mobile);
      flowByKind(second.withFormat("xml"), mobile);
      lostBuyRecovered(second, strict);
      lostBuyRecovered(primary.withFormat("xml"), strict);
    } catch (MovTicketClient.ApiException e) {
      check("the walk finished", false, e.getMessage());
    }
    System.out.println(passed + " passed, " + failed + " failed");
    System.exit(failed > 0 ? 1 : 0);
  }
}
