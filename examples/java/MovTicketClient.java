import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.URI;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/**
 * A movticket partner API client, Java 17 standard library only.
 *
 * <p>Written from docs/channel-guide.en.md: signing (section 5), envelopes in XML and JSON (3.1,
 * 3.2), retries with the same req_id (7, 11) and callback signatures (14). Data comes back as
 * plain values: a String, a Map (card) or a List of Maps (lists).
 */
public final class MovTicketClient {
  /** Each interface's own parameters in the order of its table in section 8: the full signing order. */
  public static final Map<String, List<String>> INTERFACE_PARAMS = Map.ofEntries(
      Map.entry("cities", List.of()),
      Map.entry("regionsByCity", List.of("city_id")),
      Map.entry("cinemasByRegion", List.of("region_id")),
      Map.entry("buyByCinema", List.of("cinema_id", "count", "order_no")),
      Map.entry("kinds", List.of()),
      Map.entry("cinemasByKind", List.of("kind_id", "city_id")),
      Map.entry("buyByKind", List.of("kind_id", "count", "order_no")),
      Map.entry("payByCard", List.of("card_no", "mobile", "total_price")),
      Map.entry("status", List.of("card_no", "order_no")),
      Map.entry("ban", List.of("card_no", "reason")),
      Map.entry("resendSms", List.of("card_no", "mobile")));

  /** The only list elements (section 3.2); any other childless element is a string. */
  static final Set<String> XML_LISTS = Set.of("cities", "regions", "kinds", "cinemas");

  /** A callback's signed parameters in order (section 14); hashcode follows them. */
  public static final List<String> CALLBACK_PARAMS = List.of("partner_id", "sec_id", "event_id",
      "event_type", "card_no", "seq", "status", "used_count", "remaining", "occurred_at", "timestamp");

  /** Answers retried with the same req_id (sections 7.3, 11). */
  static final Set<String> RETRYABLE = Set.of("internal", "unavailable", "timeout", "rate_limited");

  private static final DateTimeFormatter YMDHIS = DateTimeFormatter.ofPattern("yyyyMMddHHmmss");
  private static final SecureRandom RANDOM = new SecureRandom();

  /** An error envelope, or no usable answer (code 0, type network_error). */
  public static final class ApiException extends Exception {
    private static final long serialVersionUID = 1L;
    public final String method, type, reqId;
    public final int code;
    public final Map<String, String> extra;

    ApiException(String method, int code, String type, String message, String reqId, Map<String, String> extra) {
      super(method + ": " + code + " " + type + ": " + message + " (req_id " + reqId + ")");
      this.method = method;
      this.code = code;
      this.type = type;
      this.reqId = reqId;
      this.extra = extra;
    }
  }

  public final String baseUrl, partnerId, busId, secId, md5key, signMode, format;
  private final ZoneId zone;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  public int attempts = 4;
  public Duration retryDelay = Duration.ofMillis(200), maxRetryAfter = Duration.ofSeconds(5);
  public Consumer<String> log = s -> {};

  public MovTicketClient(String baseUrl, String partnerId, String busId, String secId, String md5key,
      String signMode, String format, ZoneId zone) {
    this.baseUrl = baseUrl;
    this.partnerId = partnerId;
    this.busId = busId;
    this.secId = secId;
    this.md5key = md5key;
    this.signMode = signMode;
    this.format = format;
    this.zone = zone;
  }

  public MovTicketClient withFormat(String newFormat) {
    MovTicketClient c = new MovTicketClient(baseUrl, partnerId, busId, secId, md5key, signMode, newFormat, zone);
    c.log = log;
    return c;
  }

  public MovTicketClient withKey(String newSecId, String newKey, String newMode) {
    MovTicketClient c = new MovTicketClient(baseUrl, partnerId, busId, newSecId, newKey, newMode, format, zone);
    c.log = log;
    return c;
  }

  public static String md5Hex(String s) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** What is hashed: basic = partner_id+bus_id+req_id+timestamp+md5key; full = every value in order + md5key. */
  public static String signingString(String mode, List<String[]> params, String md5key) {
    StringBuilder sb = new StringBuilder();
    if (mode.equals("basic")) {
      Map<String, String> byName = new LinkedHashMap<>();
      for (String[] p : params) byName.put(p[0], p[1]);
      for (String name : List.of("partner_id", "bus_id", "req_id", "timestamp")) sb.append(byName.get(name));
    } else {
      for (String[] p : params) {
        if (!p[0].equals("format") && !p[0].equals("hashcode")) sb.append(p[1]);
      }
    }
    return sb.append(md5key).toString();
  }

  public static String hashcode(String mode, List<String[]> params, String md5key) {
    return md5Hex(signingString(mode, params, md5key));
  }

  /** Parses an application/x-www-form-urlencoded body. */
  public static Map<String, String> parseForm(String body) {
    Map<String, String> out = new LinkedHashMap<>();
    for (String pair : body.split("&")) {
      int eq = pair.indexOf('=');
      if (eq < 0) continue;
      out.put(URLDecoder.decode(pair.substring(0, eq), StandardCharsets.UTF_8),
          URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
    }
    return out;
  }

  /** Whether a callback's hashcode matches its parameters (the full rule, section 14). */
  public static boolean verifyCallback(Map<String, String> form, String md5key) {
    StringBuilder sb = new StringBuilder();
    for (String name : CALLBACK_PARAMS) {
      if (!form.containsKey(name)) return false;
      sb.append(form.get(name));
    }
    String given = form.get("hashcode");
    if (given == null) return false;
    return MessageDigest.isEqual(md5Hex(sb.append(md5key).toString()).getBytes(StandardCharsets.US_ASCII),
        given.toLowerCase().getBytes(StandardCharsets.US_ASCII));
  }

  public static String newReqId() {
    return ZonedDateTime.now().format(DateTimeFormatter.ofPattern("yyMMddHHmmss"))
        + HexFormat.of().formatHex(randomBytes(4));
  }

  private static byte[] randomBytes(int n) {
    byte[] b = new byte[n];
    RANDOM.nextBytes(b);
    return b;
  }

  /** The interface's own parameters; throws on an unknown interface or a parameter it does not take. */
  static List<String> checkParams(String method, Map<String, String> params) {
    List<String> own = INTERFACE_PARAMS.get(method);
    if (own == null) throw new IllegalArgumentException("unknown interface " + method);
    for (String name : params.keySet()) {
      if (!own.contains(name)) throw new IllegalArgumentException(method + " takes no " + name);
    }
    return own;
  }

  /** The signed parameters of one attempt, in wire order. */
  public List<String[]> form(String method, Map<String, String> params, String reqId) {
    List<String> own = checkParams(method, params);
    List<String[]> fields = new ArrayList<>();
    fields.add(new String[] {"partner_id", partnerId});
    fields.add(new String[] {"sec_id", secId});
    fields.add(new String[] {"bus_id", busId});
    fields.add(new String[] {"req_id", reqId});
    fields.add(new String[] {"ver", "1000"});
    fields.add(new String[] {"timestamp", ZonedDateTime.now(zone).format(YMDHIS)});
    for (String name : own) { // table order; absent optional parameters are not sent
      if (params.containsKey(name)) fields.add(new String[] {name, params.get(name)});
    }
    fields.add(new String[] {"hashcode", hashcode(signMode, fields, md5key)});
    fields.add(new String[] {"format", format});
    return fields;
  }

  public Map<String, Object> call(String method, Map<String, String> params) throws ApiException {
    return call(method, params, newReqId());
  }

  /**
   * Calls an interface and returns its data. Network errors, unreadable answers, 500/503/504 and
   * 429 are retried with the same req_id and parameters (fresh timestamp and hashcode), so a
   * mutating call takes effect once however many attempts it needs.
   */
  @SuppressWarnings("unchecked")
  public Map<String, Object> call(String method, Map<String, String> params, String reqId) throws ApiException {
    checkParams(method, params); // a mistake in the call is not worth retrying
    Duration delay = retryDelay;
    for (int attempt = 1; ; attempt++) {
      boolean last = attempt >= attempts;
      try {
        String body = form(method, params, reqId).stream()
            .map(f -> URLEncoder.encode(f[0], StandardCharsets.UTF_8) + "=" + URLEncoder.encode(f[1], StandardCharsets.UTF_8))
            .collect(Collectors.joining("&"));
        HttpRequest request = HttpRequest.newBuilder(URI.create(baseUrl + "/movTicket/" + method))
            .timeout(Duration.ofSeconds(10))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8))
            .build();
        HttpResponse<byte[]> res = http.send(request, HttpResponse.BodyHandlers.ofByteArray());
        Map<String, Object> envelope = parseEnvelope(res.body(), res.headers().firstValue("Content-Type").orElse(""));
        if (envelope.containsKey("data")) return (Map<String, Object>) envelope.get("data");
        Map<String, String> error = (Map<String, String>) envelope.get("error");
        String type = error.getOrDefault("type", "");
        Duration wait = delay;
        if (type.equals("rate_limited")) {
          wait = res.headers().firstValue("Retry-After").map(s -> Duration.ofSeconds(Long.parseLong(s))).orElse(delay);
          if (wait.compareTo(maxRetryAfter) > 0) last = true; // e.g. the daily resend cap
        }
        if (!RETRYABLE.contains(type) || last) {
          Map<String, String> extra = new LinkedHashMap<>(error);
          extra.remove("type");
          extra.remove("message");
          throw new ApiException(method, res.statusCode(), type, error.getOrDefault("message", ""), reqId, extra);
        }
        log.accept("retrying " + method + " with the same req_id " + reqId + " after " + res.statusCode() + " " + type);
        delay = wait;
      } catch (IOException | RuntimeException e) { // no answer, or not an envelope: the call may have run
        if (last) throw new ApiException(method, 0, "network_error", String.valueOf(e), reqId, Map.of());
        log.accept("retrying " + method + " with the same req_id " + reqId + " after " + e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new ApiException(method, 0, "network_error", "interrupted", reqId, Map.of());
      }
      try {
        Thread.sleep(delay.toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new ApiException(method, 0, "network_error", "interrupted", reqId, Map.of());
      }
      delay = delay.multipliedBy(2);
    }
  }

  /** Either format into one shape: {code, data} or {code, error}. */
  @SuppressWarnings("unchecked")
  public static Map<String, Object> parseEnvelope(byte[] body, String contentType) throws IOException {
    if (contentType.contains("json")) {
      return (Map<String, Object>) new Json(new String(body, StandardCharsets.UTF_8)).value();
    }
    Element root;
    try {
      DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
      factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
      root = factory.newDocumentBuilder().parse(new ByteArrayInputStream(body)).getDocumentElement();
    } catch (Exception e) {
      throw new IOException("not an XML envelope: " + e.getMessage(), e);
    }
    Map<String, Object> out = new LinkedHashMap<>();
    for (Element child : children(root)) {
      switch (child.getTagName()) {
        case "code" -> out.put("code", Integer.parseInt(child.getTextContent().trim()));
        case "data" -> out.put("data", xmlValue(child, false));
        case "error" -> {
          Map<String, String> error = new LinkedHashMap<>();
          for (Element e : children(child)) error.put(e.getTagName(), e.getTextContent());
          out.put("error", error);
        }
        default -> {}
      }
    }
    return out;
  }

  private static List<Element> children(Element el) {
    List<Element> out = new ArrayList<>();
    for (Node n = el.getFirstChild(); n != null; n = n.getNextSibling()) {
      if (n instanceof Element e) out.add(e);
    }
    return out;
  }

  /** Decides list, object or string by the element's name (section 3.2), not by its shape. */
  private static Object xmlValue(Element el, boolean mayBeList) {
    List<Element> kids = children(el);
    if (mayBeList && XML_LISTS.contains(el.getTagName())) {
      List<Object> list = new ArrayList<>();
      for (Element item : kids) list.add(xmlValue(item, false));
      return list;
    }
    if (el.getTagName().equals("data") || !kids.isEmpty()) {
      Map<String, Object> obj = new LinkedHashMap<>();
      for (Element k : kids) obj.put(k.getTagName(), xmlValue(k, el.getTagName().equals("data")));
      return obj;
    }
    return el.getTextContent();
  }

  /** A small JSON reader (objects, arrays, strings, numbers, literals): Java has none built in. */
  static final class Json {
    private final String s;
    private int i;

    Json(String s) {
      this.s = s;
    }

    Object value() throws IOException {
      Object v = read();
      skip();
      if (i != s.length()) throw new IOException("trailing characters in JSON");
      return v;
    }

    private void skip() {
      while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++;
    }

    private Object read() throws IOException {
      skip();
      if (i >= s.length()) throw new IOException("unexpected end of JSON");
      char c = s.charAt(i);
      if (c == '{') {
        Map<String, Object> obj = new LinkedHashMap<>();
        i++;
        skip();
        if (s.charAt(i) == '}') { i++; return obj; }
        while (true) {
          skip();
          String key = string();
          skip();
          expect(':');
          obj.put(key, read());
          skip();
          if (s.charAt(i) == ',') { i++; continue; }
          expect('}');
          return obj;
        }
      }
      if (c == '[') {
        List<Object> list = new ArrayList<>();
        i++;
        skip();
        if (s.charAt(i) == ']') { i++; return list; }
        while (true) {
          list.add(read());
          skip();
          if (s.charAt(i) == ',') { i++; continue; }
          expect(']');
          return list;
        }
      }
      if (c == '"') return string();
      int start = i;
      while (i < s.length() && "+-0123456789.eEtruefalsn".indexOf(s.charAt(i)) >= 0) i++;
      String word = s.substring(start, i);
      return switch (word) {
        case "true" -> Boolean.TRUE;
        case "false" -> Boolean.FALSE;
        case "null" -> null;
        default -> {
          try {
            yield word.contains(".") || word.contains("e") || word.contains("E")
                ? (Object) Double.parseDouble(word) : (Object) Long.parseLong(word);
          } catch (NumberFormatException e) {
            throw new IOException("bad JSON value at " + start);
          }
        }
      };
    }

    private void expect(char c) throws IOException {
      if (i >= s.length() || s.charAt(i) != c) throw new IOException("expected '" + c + "' at " + i);
      i++;
    }

    private String string() throws IOException {
      expect('"');
      StringBuilder sb = new StringBuilder();
      while (true) {
        if (i >= s.length()) throw new IOException("unterminated JSON string");
        char c = s.charAt(i++);
        if (c == '"') return sb.toString();
        if (c != '\\') { sb.append(c); continue; }
        char e = s.charAt(i++);
        switch (e) {
          case 'n' -> sb.append('\n');
          case 't' -> sb.append('\t');
          case 'r' -> sb.append('\r');
          case 'b' -> sb.append('\b');
          case 'f' -> sb.append('\f');
          case 'u' -> { sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; }
          default -> sb.append(e); // \" \\ \/
        }
      }
    }
  }
}
