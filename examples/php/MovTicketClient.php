<?php
/**
 * A movticket partner API client for php-cli 8.2 with its bundled extensions (SimpleXML comes
 * with Debian's php-xml), no Composer packages.
 *
 * Written from docs/channel-guide.en.md: signing (section 5), envelopes in XML and JSON (3.1,
 * 3.2), retries with the same req_id (7, 11) and callback signatures (14). Data comes back as
 * arrays: a card is an associative array, a list a list of them, every scalar a string.
 */

declare(strict_types=1);

final class MovTicketApiException extends RuntimeException
{
    /** @param array<string,string> $extra other keys of the error object, e.g. card_no */
    public function __construct(
        public readonly string $method,
        public readonly int $httpCode,
        public readonly string $type,
        string $message,
        public readonly string $reqId,
        public readonly array $extra = [],
    ) {
        parent::__construct("$method: $httpCode $type: $message (req_id $reqId)");
    }
}

final class MovTicketClient
{
    /** Each interface's own parameters in the order of its table in section 8: the full signing order. */
    public const INTERFACE_PARAMS = [
        'cities' => [],
        'regionsByCity' => ['city_id'],
        'cinemasByRegion' => ['region_id'],
        'buyByCinema' => ['cinema_id', 'count', 'order_no'],
        'kinds' => [],
        'cinemasByKind' => ['kind_id', 'city_id'],
        'buyByKind' => ['kind_id', 'count', 'order_no'],
        'payByCard' => ['card_no', 'mobile', 'total_price'],
        'status' => ['card_no', 'order_no'],
        'ban' => ['card_no', 'reason'],
        'resendSms' => ['card_no', 'mobile'],
    ];

    /** The only list elements (section 3.2); any other childless element is a string. */
    public const XML_LISTS = ['cities', 'regions', 'kinds', 'cinemas'];

    /** A callback's signed parameters in order (section 14); hashcode follows them. */
    public const CALLBACK_PARAMS = ['partner_id', 'sec_id', 'event_id', 'event_type', 'card_no', 'seq',
        'status', 'used_count', 'remaining', 'occurred_at', 'timestamp'];

    /** Answers retried with the same req_id (sections 7.3, 11). */
    public const RETRYABLE = ['internal', 'unavailable', 'timeout', 'rate_limited'];

    public int $attempts = 4;
    public float $retryDelay = 0.2;
    public float $maxRetryAfter = 5.0;
    public float $timeout = 10.0;
    /** @var callable(string):void|null */
    public $log = null;

    public function __construct(
        public readonly string $baseUrl,
        public readonly string $partnerId,
        public readonly string $busId,
        public readonly string $secId,
        public readonly string $md5key,
        public readonly string $signMode = 'full',
        public readonly string $format = 'json',
        public readonly string $timeZone = 'Asia/Shanghai',
    ) {
    }

    public function with(array $changes): self
    {
        $c = new self(
            $changes['baseUrl'] ?? $this->baseUrl,
            $changes['partnerId'] ?? $this->partnerId,
            $changes['busId'] ?? $this->busId,
            $changes['secId'] ?? $this->secId,
            $changes['md5key'] ?? $this->md5key,
            $changes['signMode'] ?? $this->signMode,
            $changes['format'] ?? $this->format,
            $changes['timeZone'] ?? $this->timeZone,
        );
        $c->log = $this->log;
        return $c;
    }

    /**
     * What is hashed: basic = partner_id.bus_id.req_id.timestamp.md5key; full = every value in
     * order (without format and hashcode) + md5key.
     *
     * @param list<array{0:string,1:string}> $params name/value pairs in wire order
     */
    public static function signingString(string $mode, array $params, string $md5key): string
    {
        if ($mode === 'basic') {
            $byName = [];
            foreach ($params as [$name, $value]) {
                $byName[$name] = $value;
            }
            return $byName['partner_id'] . $byName['bus_id'] . $byName['req_id'] . $byName['timestamp'] . $md5key;
        }
        $s = '';
        foreach ($params as [$name, $value]) {
            if ($name !== 'format' && $name !== 'hashcode') {
                $s .= $value;
            }
        }
        return $s . $md5key;
    }

    /** @param list<array{0:string,1:string}> $params */
    public static function hashcode(string $mode, array $params, string $md5key): string
    {
        return md5(self::signingString($mode, $params, $md5key));
    }

    /** Whether a callback's hashcode matches its parameters (the full rule, section 14). */
    public static function verifyCallback(array $form, string $md5key): bool
    {
        $s = '';
        foreach (self::CALLBACK_PARAMS as $name) {
            if (!isset($form[$name])) {
                return false;
            }
            $s .= $form[$name];
        }
        return isset($form['hashcode']) && hash_equals(md5($s . $md5key), strtolower($form['hashcode']));
    }

    /** Parses an application/x-www-form-urlencoded body without PHP's renaming of keys. */
    public static function parseForm(string $body): array
    {
        $out = [];
        foreach (explode('&', $body) as $pair) {
            [$name, $value] = array_pad(explode('=', $pair, 2), 2, '');
            $out[urldecode($name)] = urldecode($value);
        }
        return $out;
    }

    public static function newReqId(): string
    {
        return date('ymdHis') . bin2hex(random_bytes(4));
    }

    /** @return list<array{0:string,1:string}> the signed parameters of one attempt, in wire order */
    public function form(string $method, array $params, string $reqId): array
    {
        $own = self::INTERFACE_PARAMS[$method] ?? throw new InvalidArgumentException("unknown interface $method");
        foreach (array_keys($params) as $name) {
            if (!in_array($name, $own, true)) {
                throw new InvalidArgumentException("$method takes no $name");
            }
        }
        $now = new DateTimeImmutable('now', new DateTimeZone($this->timeZone));
        $fields = [['partner_id', $this->partnerId], ['sec_id', $this->secId], ['bus_id', $this->busId],
            ['req_id', $reqId], ['ver', '1000'], ['timestamp', $now->format('YmdHis')]];
        foreach ($own as $name) { // table order; absent optional parameters are not sent
            if (array_key_exists($name, $params)) {
                $fields[] = [$name, (string) $params[$name]];
            }
        }
        $fields[] = ['hashcode', self::hashcode($this->signMode, $fields, $this->md5key)];
        $fields[] = ['format', $this->format];
        return $fields;
    }

    /**
     * Calls an interface and returns its data. Network errors, unreadable answers, 500/503/504
     * and 429 are retried with the same req_id and parameters (fresh timestamp and hashcode), so
     * a mutating call takes effect once however many attempts it needs.
     */
    public function call(string $method, array $params = [], ?string $reqId = null): array
    {
        $reqId ??= self::newReqId();
        $delay = $this->retryDelay;
        for ($attempt = 1; ; $attempt++) {
            $last = $attempt >= $this->attempts;
            $answer = $this->sendOnce($method, $params, $reqId);
            if (is_string($answer)) { // no answer, or not an envelope: the call may have run
                if ($last) {
                    throw new MovTicketApiException($method, 0, 'network_error', $answer, $reqId);
                }
                $this->note("retrying $method with the same req_id $reqId after $answer");
            } else {
                [$status, $envelope, $headers] = $answer;
                if (isset($envelope['data'])) {
                    return $envelope['data'];
                }
                $error = $envelope['error'] ?? [];
                $type = (string) ($error['type'] ?? '');
                $wait = $delay;
                if ($type === 'rate_limited') {
                    $wait = isset($headers['retry-after']) ? (float) $headers['retry-after'] : $delay;
                    if ($wait > $this->maxRetryAfter) {
                        $last = true; // e.g. the daily resend cap: not worth waiting for here
                    }
                }
                if (!in_array($type, self::RETRYABLE, true) || $last) {
                    $extra = array_diff_key($error, ['type' => 1, 'message' => 1]);
                    throw new MovTicketApiException($method, $status, $type, (string) ($error['message'] ?? ''), $reqId, $extra);
                }
                $this->note("retrying $method with the same req_id $reqId after $status $type");
                $delay = $wait;
            }
            usleep((int) ($delay * 1e6));
            $delay *= 2;
        }
    }

    /** @return array{0:int,1:array,2:array<string,string>}|string the answer, or why there is none */
    private function sendOnce(string $method, array $params, string $reqId): array|string
    {
        $body = implode('&', array_map(
            fn (array $f) => rawurlencode($f[0]) . '=' . rawurlencode($f[1]),
            $this->form($method, $params, $reqId),
        ));
        $context = stream_context_create(['http' => [
            'method' => 'POST',
            'header' => "Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n",
            'content' => $body,
            'timeout' => $this->timeout,
            'ignore_errors' => true, // read the envelope of 4xx/5xx answers too
        ]]);
        $raw = @file_get_contents("{$this->baseUrl}/movTicket/$method", false, $context);
        if ($raw === false || !isset($http_response_header[0])) {
            return error_get_last()['message'] ?? 'no answer';
        }
        $status = (int) (explode(' ', $http_response_header[0])[1] ?? 0);
        $headers = [];
        foreach (array_slice($http_response_header, 1) as $line) {
            [$name, $value] = array_pad(explode(':', $line, 2), 2, '');
            $headers[strtolower(trim($name))] = trim($value);
        }
        try {
            return [$status, self::parseEnvelope($raw, $headers['content-type'] ?? ''), $headers];
        } catch (UnexpectedValueException $e) {
            return $e->getMessage();
        }
    }

    /** Either format into one shape: ['code' => int, 'data' => [...]] or ['code' => int, 'error' => [...]]. */
    public static function parseEnvelope(string $body, string $contentType): array
    {
        if (str_contains($contentType, 'json')) {
            try {
                return json_decode($body, true, 64, JSON_THROW_ON_ERROR);
            } catch (JsonException $e) {
                throw new UnexpectedValueException('not a JSON envelope: ' . $e->getMessage());
            }
        }
        $previous = libxml_use_internal_errors(true);
        $root = simplexml_load_string($body, SimpleXMLElement::class, LIBXML_NONET);
        libxml_use_internal_errors($previous);
        if ($root === false) {
            throw new UnexpectedValueException('not an XML envelope');
        }
        $out = ['code' => (int) $root->code];
        if (isset($root->data)) {
            $data = [];
            foreach ($root->data->children() as $child) {
                $data[$child->getName()] = self::xmlValue($child, true);
            }
            $out['data'] = $data;
        }
        if (isset($root->error)) {
            $error = [];
            foreach ($root->error->children() as $child) {
                $error[$child->getName()] = (string) $child;
            }
            $out['error'] = $error;
        }
        return $out;
    }

    /** Decides list, object or string by the element's name (section 3.2), not by its shape. */
    private static function xmlValue(SimpleXMLElement $el, bool $mayBeList): array|string
    {
        if ($mayBeList && in_array($el->getName(), self::XML_LISTS, true)) {
            $list = [];
            foreach ($el->children() as $item) {
                $list[] = self::xmlValue($item, false);
            }
            return $list;
        }
        if ($el->count() > 0) {
            $obj = [];
            foreach ($el->children() as $child) {
                $obj[$child->getName()] = self::xmlValue($child, false);
            }
            return $obj;
        }
        return (string) $el;
    }

    private function note(string $text): void
    {
        if ($this->log !== null) {
            ($this->log)($text);
        }
    }
}
