import { BlockList, isIP } from 'node:net';

/*
 * Partner callback URLs are typed by staff and answered by whatever listens there; the notify
 * log shows each answer's status. Left open, that turns the notify worker into a scanner of the
 * platform's own host and network. So a callback may not reach this machine, a private network
 * or any other address that is not public, neither by its URL (checked when it is set and again
 * when sending) nor by what its host name resolves to at the moment of sending. The operator
 * can allow named hosts or address ranges (MOVTICKET_CALLBACK_ALLOW).
 */

/** The stable code of a refused callback, in the delivery log and in errors. */
export const CALLBACK_REFUSED = 'callback_refused';

type Family = 'ipv4' | 'ipv6';

/** Address ranges that are not the public internet, with what they are. */
const NOT_PUBLIC: [kind: string, ranges: [network: string, prefix: number, family: Family][]][] = [
  [
    'loopback',
    [
      ['127.0.0.0', 8, 'ipv4'],
      ['::1', 128, 'ipv6'],
    ],
  ],
  [
    'unspecified',
    [
      ['0.0.0.0', 8, 'ipv4'],
      ['::', 128, 'ipv6'],
    ],
  ],
  [
    'private',
    [
      ['10.0.0.0', 8, 'ipv4'],
      ['172.16.0.0', 12, 'ipv4'],
      ['192.168.0.0', 16, 'ipv4'],
      ['fc00::', 7, 'ipv6'],
    ],
  ],
  ['shared (carrier-grade NAT)', [['100.64.0.0', 10, 'ipv4']]],
  [
    'link-local',
    [
      ['169.254.0.0', 16, 'ipv4'],
      ['fe80::', 10, 'ipv6'],
    ],
  ],
  [
    'multicast',
    [
      ['224.0.0.0', 4, 'ipv4'],
      ['ff00::', 8, 'ipv6'],
    ],
  ],
  [
    'reserved',
    [
      ['192.0.0.0', 24, 'ipv4'],
      ['192.0.2.0', 24, 'ipv4'],
      ['198.18.0.0', 15, 'ipv4'],
      ['198.51.100.0', 24, 'ipv4'],
      ['203.0.113.0', 24, 'ipv4'],
      ['240.0.0.0', 4, 'ipv4'],
      // IPv4-compatible (deprecated) addresses embed an IPv4 address the rules above cannot see.
      ['::', 96, 'ipv6'],
      ['100::', 64, 'ipv6'],
      ['2001:db8::', 32, 'ipv6'],
      ['fec0::', 10, 'ipv6'],
    ],
  ],
];

const KINDS = NOT_PUBLIC.map(([kind, ranges]) => {
  const list = new BlockList();
  for (const [network, prefix, family] of ranges) list.addSubnet(network, prefix, family);
  return { kind, list };
});

/** Addresses that embed an IPv4 address another host would reach (NAT64, 6to4): check that one. */
function embeddedIpv4(address: string): string | null {
  const m = /^(64:ff9b::|2002:)/i.exec(address);
  if (!m) return null;
  const groups = expandIpv6(address);
  if (!groups) return null;
  const [hi, lo] = m[1]!.toLowerCase() === '2002:' ? [groups[1]!, groups[2]!] : [groups[6]!, groups[7]!];
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

function expandIpv6(address: string): number[] | null {
  const [head = '', tail] = address.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const a = parse(head);
  const b = tail === undefined ? [] : parse(tail);
  const groups = [...a, ...Array<number>(8 - a.length - b.length).fill(0), ...b];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff)
    ? groups
    : null;
}

/** What a non-public address is (`loopback`, `private`…), or null for a public one. */
export function nonPublicKind(withZone: string): string | null {
  const address = withZone.replace(/%.*$/, '');
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  // BlockList checks an IPv4-mapped IPv6 address (::ffff:127.0.0.1) against the IPv4 rules too.
  for (const { kind, list } of KINDS) if (list.check(address, family)) return kind;
  const inner = family === 'ipv6' ? embeddedIpv4(address) : null;
  return inner === null ? null : nonPublicKind(inner);
}

/** A URL's host without the brackets of an IPv6 literal, lower-case, without a final dot. */
export function hostOf(url: URL): string {
  return url.hostname
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '')
    .toLowerCase();
}

const HOSTNAME =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/**
 * Parses MOVTICKET_CALLBACK_ALLOW: a comma-separated list of host names (`notify.partner.lan`),
 * addresses (`10.1.2.3`) and CIDR ranges (`10.20.0.0/16`, `fd00::/8`). Throws on a bad entry.
 */
export function parseCallbackAllow(raw: string): string[] {
  const entries = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const e of entries) {
    const [address = '', prefix, ...rest] = e.split('/');
    const family = isIP(address);
    if (family !== 0 && rest.length === 0) {
      if (prefix === undefined) continue;
      const max = family === 4 ? 32 : 128;
      if (/^[0-9]{1,3}$/.test(prefix) && Number(prefix) <= max) continue;
      throw new Error(`${e} has a bad prefix length: expected 0 to ${max}`);
    }
    if (prefix === undefined && HOSTNAME.test(e)) continue;
    throw new Error(`${e} is not a host name, an IP address or a CIDR range`);
  }
  return entries;
}

/** Why a callback may not go somewhere; `address` is what was refused. */
export interface CallbackRefusal {
  host: string;
  address: string;
  kind: string;
}

/** Which callback destinations are refused; an operator's allowance goes before the rules. */
export class CallbackPolicy {
  private readonly allowedHosts = new Set<string>();
  private readonly allowedRanges = new BlockList();

  /** `allow`: entries as parseCallbackAllow returns them. */
  constructor(allow: readonly string[] = []) {
    for (const entry of allow) {
      const [address = '', prefix] = entry.split('/');
      const family = isIP(address);
      if (family === 0) {
        this.allowedHosts.add(entry.replace(/\.$/, '').toLowerCase());
        continue;
      }
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (prefix === undefined) this.allowedRanges.addAddress(address, type);
      else this.allowedRanges.addSubnet(address, Number(prefix), type);
    }
  }

  /** True when the operator allowed this host by name: whatever it resolves to is accepted. */
  allowsHost(host: string): boolean {
    return this.allowedHosts.has(host);
  }

  /** Why `address` (what `host` resolved to) may not be connected to; null when it may. */
  refuseAddress(host: string, address: string): CallbackRefusal | null {
    const kind = nonPublicKind(address);
    if (kind === null) return null;
    if (this.allowedRanges.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4')) return null;
    return { host, address, kind };
  }

  /**
   * What can be told from the URL alone: an address literal that is not public (the URL parser
   * has already turned `2130706433` and `0x7f000001` into `127.0.0.1`), or this machine's name.
   * A host name is checked again by what it resolves to when a callback is sent.
   */
  refuseUrl(url: URL): CallbackRefusal | null {
    const host = hostOf(url);
    if (this.allowsHost(host)) return null;
    if (isIP(host) !== 0) return this.refuseAddress(host, host);
    if (host === 'localhost' || host.endsWith('.localhost')) {
      return { host, address: host, kind: 'loopback' };
    }
    return null;
  }
}

/** The delivery log's text for a refused callback: the stable code first. */
export function describeRefusal(r: CallbackRefusal): string {
  const target = r.host === r.address ? r.address : `${r.host} → ${r.address}`;
  return `${CALLBACK_REFUSED}: ${target} is a ${r.kind} address; not sent`;
}

/** Reads describeRefusal's text back (for the console), or null for any other error text. */
export function parseRefusal(text: string | null): { target: string; kind: string } | null {
  const m = text === null ? null : /^callback_refused: (.+) is a (.+) address; not sent$/.exec(text);
  return m ? { target: m[1]!, kind: m[2]! } : null;
}
