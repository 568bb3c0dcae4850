<?php
/**
 * Walks the movticket partner API with MovTicketClient.php and prints one line per check.
 *
 *   MT_MD5KEY=<md5key printed by npm start> php examples/php/demo.php
 *
 * Settings (environment): see README.md. Exit code 0 only when every check passed.
 */

declare(strict_types=1);

require __DIR__ . '/MovTicketClient.php';

/**
 * A server without order_no in `status` refuses it (section 8.9); until every server has it,
 * that step only reports. Set true (or MT_REQUIRE_ORDER_NO_RECOVERY=1) to make it a failure.
 */
const REQUIRE_ORDER_NO_RECOVERY = false;

const GUIDE_KEY = 'e10adc3949ba59abbe56e057f20f883e';
/** A callback body signed by the platform with GUIDE_KEY (section 14). */
const SAMPLE_CALLBACK = 'partner_id=CS000001&sec_id=test&event_id=3f2c1a9e-5b7d-4e8f-9a6b-1c2d3e4f5a6b&event_type=banned'
    . '&card_no=6260181590830162&seq=3&status=banned&used_count=0&remaining=1'
    . '&occurred_at=20250301101500&timestamp=20250301101501&hashcode=779b9f4c7b4cb898540562dd83b61ab0';

$passed = 0;
$failed = 0;

function check(string $name, bool $ok, mixed $detail = ''): bool
{
    global $passed, $failed;
    if ($ok) {
        $passed++;
        echo "ok    $name\n";
    } else {
        $failed++;
        $text = is_string($detail) ? $detail : json_encode($detail, JSON_UNESCAPED_UNICODE);
        echo "FAIL  $name" . ($text !== '' ? ": $text" : '') . "\n";
    }
    return $ok;
}

function note(string $text): void
{
    echo "      $text\n";
}

function env(string $name, string $fallback): string
{
    $v = getenv($name);
    return $v === false || $v === '' ? $fallback : $v;
}

/** Runs $call expecting a refusal; returns the error, or null if it succeeded. */
function refusal(callable $call): ?MovTicketApiException
{
    try {
        $call();
        return null;
    } catch (MovTicketApiException $e) {
        return $e;
    }
}

/** Money on the wire is yuan with two decimals ("35.00"); count in integer fen. */
function fen(string $amount): int
{
    [$yuan, $cents] = array_pad(explode('.', $amount, 2), 2, '');
    return (int) $yuan * 100 + (int) substr($cents . '00', 0, 2);
}

function yuan(int $fen): string
{
    return sprintf('%d.%02d', intdiv($fen, 100), $fen % 100);
}

function label(MovTicketClient $c): string
{
    return "{$c->signMode}/{$c->format}";
}

function checkSigning(): void
{
    $basic = [['partner_id', 'CS000001'], ['sec_id', 'test'], ['bus_id', '1002758'],
        ['req_id', '2012010100000001'], ['ver', '1000'], ['timestamp', '20121225020202']];
    check('sign basic: guide 5.3 vector', MovTicketClient::hashcode('basic', $basic, GUIDE_KEY) === 'c2ea37696f3f4b09f911a8c6dab43264');
    $full = [['partner_id', 'CS000001'], ['sec_id', 'test'], ['bus_id', '1002758'],
        ['req_id', '2012010100000002'], ['ver', '1000'], ['timestamp', '20121225020202'],
        ['card_no', '6281234567890123'], ['mobile', '13812345678']];
    check('sign full: guide 5.3 signed string', MovTicketClient::signingString('full', $full, GUIDE_KEY)
        === 'CS000001test10027582012010100000002100020121225020202628123456789012313812345678' . GUIDE_KEY);
    check('sign full: guide 5.3 vector', MovTicketClient::hashcode('full', $full, GUIDE_KEY) === '7a27021fdd92e04520656f58003e4748');
}

function checkCallbacks(array $keys): void
{
    $sample = MovTicketClient::parseForm(SAMPLE_CALLBACK);
    check('callback: platform-signed sample accepted', MovTicketClient::verifyCallback($sample, GUIDE_KEY));
    check('callback: sample with status changed refused', !MovTicketClient::verifyCallback(['status' => 'active'] + $sample, GUIDE_KEY));
    check('callback: sample with another md5key refused', !MovTicketClient::verifyCallback($sample, str_repeat('0', 32)));
    $body = getenv('MT_CALLBACK_BODY');
    if ($body !== false && $body !== '') {
        $received = MovTicketClient::parseForm($body);
        $key = $keys[$received['sec_id'] ?? ''] ?? null;
        check('callback: MT_CALLBACK_BODY verified with the md5key of its sec_id',
            $key !== null && MovTicketClient::verifyCallback($received, $key), $received['sec_id'] ?? '');
    }
}

function flowByCinema(MovTicketClient $c, string $mobile): void
{
    $l = label($c);
    $cities = $c->call('cities')['cities'];
    check("cities [$l]: a list of cities", is_array($cities) && count($cities) > 0);
    $city = $cities[0]['code_id'];
    $regions = $c->call('regionsByCity', ['city_id' => $city])['regions'];
    check("regionsByCity $city [$l]", count($regions) > 0);
    $region = $regions[0]['code_id'];
    $cinemas = $c->call('cinemasByRegion', ['region_id' => $region])['cinemas'];
    check("cinemasByRegion $region [$l]", count($cinemas) > 0);
    $cinema = $cinemas[0];
    $orderNo = 'php' . MovTicketClient::newReqId();
    $card = $c->call('buyByCinema', ['cinema_id' => $cinema['cinema_id'], 'count' => '2', 'order_no' => $orderNo])['card'];
    check("buyByCinema {$cinema['cinema_id']} x2 [$l]: inactive, total = 2 x price",
        $card['status'] === 'inactive' && $card['total_price'] === yuan(2 * fen($cinema['price'])) && $card['kind_id'] === '', $card);
    $pay = ['card_no' => $card['card_no'], 'mobile' => $mobile, 'total_price' => $card['total_price']];
    $payReqId = MovTicketClient::newReqId();
    $paid = $c->call('payByCard', $pay, $payReqId)['card'];
    check("payByCard [$l]: active with an 8-digit password",
        $paid['status'] === 'active' && preg_match('/^[0-9]{8}$/', $paid['password']) === 1);
    // The answer of a payment can be lost on the way back; the retry carries the same req_id.
    $again = $c->call('payByCard', $pay, $payReqId)['card'];
    check("payByCard retried with the same req_id [$l]: the original answer, same password",
        $again['password'] === $paid['password'] && $again['paid_at'] === $paid['paid_at']);
    $e = refusal(fn () => $c->call('payByCard', ['mobile' => '13900139000'] + $pay, $payReqId));
    check("same req_id with another mobile [$l]: 409 duplicate_req_id", $e?->type === 'duplicate_req_id', $e?->getMessage() ?? 'succeeded');
    $status = $c->call('status', ['card_no' => $card['card_no']])['card'];
    check("status [$l]: active, order_no kept, mobile masked", $status['status'] === 'active'
        && $status['order_no'] === $orderNo && str_contains($status['mobile'], '****'), $status);
}

function flowByKind(MovTicketClient $c, string $mobile): void
{
    $l = label($c);
    $kinds = $c->call('kinds')['kinds'];
    check("kinds [$l]", count($kinds) > 0);
    $kind = $kinds[0]['kind_id'];
    check("cinemasByKind $kind [$l]", count($c->call('cinemasByKind', ['kind_id' => $kind])['cinemas']) > 0);
    $card = $c->call('buyByKind', ['kind_id' => $kind, 'count' => '1'])['card'];
    // <cinema_id></cinema_id> is the empty string: only cities/regions/kinds/cinemas are lists.
    check("buyByKind $kind [$l]: inactive, cinema_id is an empty string",
        $card['status'] === 'inactive' && $card['cinema_id'] === '' && $card['kind_id'] === $kind, $card);
    $paid = $c->call('payByCard', ['card_no' => $card['card_no'], 'mobile' => $mobile, 'total_price' => $card['total_price']])['card'];
    check("payByCard [$l]: active", $paid['status'] === 'active');
    $status = $c->call('status', ['card_no' => $card['card_no']])['card'];
    check("status [$l]: active, valid_until set", $status['status'] === 'active' && strlen($status['valid_until']) === 14);

    $unpaid = $c->call('buyByKind', ['kind_id' => $kind, 'count' => '1'])['card']['card_no'];
    $banned = $c->call('ban', ['card_no' => $unpaid, 'reason' => '用户取消订单'])['card'];
    check("ban of an unpaid card [$l]: banned", $banned['status'] === 'banned' && $banned['banned_at'] !== '');
    $e = refusal(fn () => $c->call('payByCard', ['card_no' => $unpaid, 'mobile' => $mobile]));
    check("payByCard of the banned card [$l]: 406 card_state", $e?->type === 'card_state', $e?->getMessage() ?? 'succeeded');
}

function lostBuyRecovered(MovTicketClient $c, bool $strict): void
{
    $l = label($c);
    $kind = $c->call('kinds')['kinds'][0]['kind_id'];
    $orderNo = 'lost' . MovTicketClient::newReqId();
    $buy = ['kind_id' => $kind, 'count' => '1', 'order_no' => $orderNo];
    $c->call('buyByKind', $buy); // the answer is "lost"
    try {
        $found = $c->call('status', ['order_no' => $orderNo])['card'];
    } catch (MovTicketApiException $e) {
        // Such a server does not know the parameter: invalid_param (card_no missing), or in full
        // mode invalid_signature, since it does not sign a parameter it does not know.
        if (in_array($e->type, ['invalid_param', 'invalid_signature'], true) && !$strict) {
            note('order_no recovery: not supported by this server');
            return;
        }
        check("lost buy found by status with order_no [$l]", false, $e->getMessage());
        return;
    }
    check("lost buy found by status with order_no [$l]: the inactive card of that order",
        $found['order_no'] === $orderNo && $found['status'] === 'inactive' && strlen($found['card_no']) === 16, $found);
    $e = refusal(fn () => $c->call('buyByKind', $buy));
    check("second buy of that order_no, new req_id [$l]: 409 order_exists naming the card",
        $e?->type === 'order_exists' && $e->httpCode === 409 && ($e->extra['card_no'] ?? null) === $found['card_no'],
        $e === null ? 'succeeded' : $e->getMessage() . ' ' . json_encode($e->extra));
}

$md5key = getenv('MT_MD5KEY');
if ($md5key === false || $md5key === '') {
    echo "MT_MD5KEY is not set: start the platform with `npm start` and pass the md5key it prints.\n";
    exit(2);
}
$mobile = env('MT_MOBILE', '13800138000');
$primary = new MovTicketClient(rtrim(env('MT_URL', 'http://127.0.0.1:8080'), '/'), env('MT_PARTNER_ID', 'CS000001'),
    env('MT_BUS_ID', '1002758'), env('MT_SEC_ID', 'test'), $md5key, env('MT_SIGN_MODE', 'basic'), 'json',
    env('MT_TZ', 'Asia/Shanghai'));
$primary->log = 'note';
$keys = [$primary->secId => $md5key];
$second = $primary;
if (env('MT_FULL_SEC_ID', '') !== '' && env('MT_FULL_MD5KEY', '') !== '') {
    $second = $primary->with(['secId' => env('MT_FULL_SEC_ID', ''), 'md5key' => env('MT_FULL_MD5KEY', ''), 'signMode' => 'full']);
    $keys[$second->secId] = $second->md5key;
} else {
    note('full mode: no MT_FULL_SEC_ID/MT_FULL_MD5KEY given; live calls use the primary key only');
}
$strict = REQUIRE_ORDER_NO_RECOVERY || getenv('MT_REQUIRE_ORDER_NO_RECOVERY') === '1';

echo "movticket partner API at {$primary->baseUrl}, partner {$primary->partnerId}\n";
checkSigning();
checkCallbacks($keys);
try {
    $xmlCities = $primary->with(['format' => 'xml'])->call('cities');
    $jsonCities = $primary->call('cities');
    check('cities: the XML and the JSON answer agree', $xmlCities === $jsonCities && count($jsonCities['cities']) > 0);
    $e = refusal(fn () => $primary->with(['md5key' => str_repeat('0', 32)])->call('cities'));
    check('a wrong md5key: 401 invalid_signature, not retried', $e?->type === 'invalid_signature', $e?->getMessage() ?? 'succeeded');

    flowByCinema($second->with(['format' => 'xml']), $mobile);
    flowByKind($primary, $mobile);
    flowByKind($second->with(['format' => 'xml']), $mobile);
    lostBuyRecovered($second, $strict);
    lostBuyRecovered($primary->with(['format' => 'xml']), $strict);
} catch (MovTicketApiException $e) {
    check('the walk finished', false, $e->getMessage());
}
echo "$passed passed, $failed failed\n";
exit($failed > 0 ? 1 : 0);
