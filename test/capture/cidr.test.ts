import t from 'tap'
import { formatIpv6, parseCidr, parseIpv6 } from '../../src/capture/cidr.js'

t.test('CIDRs come out as iptables-save prints them', async t => {
  t.same(parseCidr('10.1.2.3/8'), { family: 'ipv4', text: '10.0.0.0/8', loopback: false })
  t.same(parseCidr('127.1.2.3/32'), { family: 'ipv4', text: '127.1.2.3/32', loopback: true })
  t.same(parseCidr('0.0.0.0/0'), { family: 'ipv4', text: '0.0.0.0/0', loopback: false })
  t.same(parseCidr('2001:DB8:0:0:1::5/80'), { family: 'ipv6', text: '2001:db8:0:0:1::/80', loopback: false })
  t.same(parseCidr('::1/128'), { family: 'ipv6', text: '::1/128', loopback: true })
  t.same(parseCidr('::ffff:1.2.3.4/128'), { family: 'ipv6', text: '::ffff:1.2.3.4/128', loopback: false })
  for (const bad of ['10.0.0.1', '10.0.0.0/33', '010.0.0.0/8', '10.0.0/8', '1.2.3.4.5/8', 'fd00:::/8', '::/129', '1:2:3:4:5:6:7:8:9/64', 'x/8', '10.0.0.0/8/8', '']) {
    t.equal(parseCidr(bad), undefined, bad)
  }
})

t.test('IPv6 text form follows RFC 5952 like glibc inet_ntop', async t => {
  const round = (text: string): string => formatIpv6(parseIpv6(text) ?? [])
  t.equal(round('2001:db8:0:0:0:0:2:1'), '2001:db8::2:1')
  t.equal(round('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1', 'a single zero group is not shortened')
  t.equal(round('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1', 'the longest run wins')
  t.equal(round('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1', 'the first run wins a tie')
  t.equal(round('::'), '::')
  t.equal(round('::6'), '::6')
  t.equal(round('::127.0.0.53'), '::127.0.0.53')
})
