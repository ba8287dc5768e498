#!/usr/bin/env python3
"""Writes <fixture>.expected for every <fixture>.log here, with regular expressions written from
the Apache and nginx documentation, independently of the C++ parser the unit tests check.

One line per log line, tab-separated:
  method  path  query  protocol  status  bytes  duration_seconds  upstream_seconds  user_agent
with "" as "(none)", absent numbers as "-", durations with 6 decimals."""
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
Q = r'"((?:[^"\\]|\\.)*)"'  # a quoted field: \" and \\ escaped (Apache); nginx writes \x22
CLF = r'(\S+) (\S+) (\S+) \[([^\]]*)\] ' + Q + r' (\d{3}) (\S+)'

FORMATS = {
    'apache_common': (CLF, 'apache'),
    'apache_combined': (CLF + ' ' + Q + ' ' + Q, 'apache'),
    'apache_combined_D': (CLF + ' ' + Q + ' ' + Q + r' (\d+)', 'us'),
    'apache_combined_msT': (CLF + ' ' + Q + ' ' + Q + r' (\d+)', 'ms'),
    'nginx_combined': (CLF + ' ' + Q + ' ' + Q, 'nginx'),
    'nginx_timed': (CLF + ' ' + Q + ' ' + Q + r' ([\d.]+) (-|[\d.]+(?:(?:, | : )[\d.]+)*)', 's'),
}


def request(line):
    if line in ('', '-'):
        return '', '', '', ''
    parts = line.split(' ')
    if len(parts) == 1:
        return parts[0], '', '', ''
    method = parts[0]
    protocol = ''
    if len(parts) >= 3 and parts[-1].startswith('HTTP/'):
        protocol = parts[-1]
        parts = parts[:-1]
    target = ' '.join(parts[1:])
    path, _, query = target.partition('?')
    return method, path, query, protocol


def fmt(x):
    return x if x != '' else '(none)'


def upstream_sum(text):
    items = [i for i in re.split(r', | : ', text) if i != '-']
    return '-' if not items else '%.6f' % sum(float(i) for i in items)


def main():
    for name, (regex, kind) in FORMATS.items():
        out = []
        with open(os.path.join(HERE, name + '.log'), encoding='latin-1') as f:
            for raw in f:
                m = re.match(regex, raw.rstrip('\n'))
                assert m, (name, raw)
                g = m.groups()
                method, path, query, protocol = request(g[4])
                status = g[5]
                size = '-' if g[6] == '-' else g[6]
                ua = g[8] if len(g) > 8 else ''
                duration = upstream = '-'
                if kind == 'us':
                    duration = '%.6f' % (int(g[9]) / 1e6)
                elif kind == 'ms':
                    duration = '%.6f' % (int(g[9]) / 1e3)
                elif kind == 's':
                    duration = '%.6f' % float(g[9])
                    upstream = upstream_sum(g[10])
                out.append('\t'.join(fmt(x) for x in (method, path, query, protocol, status, size,
                                                       duration, upstream, ua)))
        with open(os.path.join(HERE, name + '.expected'), 'w', encoding='latin-1') as f:
            f.write('\n'.join(out) + '\n')


main()
