#!/bin/bash
# The request mix logged into every fixture: run against Apache (port 18080) and nginx (18081).
set -u
P=$1
LONG=$(python3 -c "print('/search?q=' + 'a'*9000)")
c() { curl -s -o /dev/null "$@"; }
c http://127.0.0.1:$P/
c -g "http://[::1]:$P/index.html?lang=en&x=1"
c http://127.0.0.1:$P/missing/page
c -I http://127.0.0.1:$P/big.txt
c -X POST -d 'name=alice&age=3' http://127.0.0.1:$P/index.html
c -A 'Mozilla/5.0 "quoted" agent \ with backslash' -e 'https://ref.example/?q="x"' http://127.0.0.1:$P/static/app.css
c -H 'If-Modified-Since: Wed, 01 Jan 2100 00:00:00 GMT' http://127.0.0.1:$P/big.txt
c -X PROPFIND http://127.0.0.1:$P/
c -X PATCH http://127.0.0.1:$P/index.html
c -X BREW http://127.0.0.1:$P/coffee
c "http://127.0.0.1:$P$LONG"
c -A 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36' -u bob:secret http://127.0.0.1:$P/static/app.css
python3 /tmp/acc/raw.py 127.0.0.1 $P 'GET /x\r\n\r\n'
python3 /tmp/acc/raw.py 127.0.0.1 $P '\x16\x03\x01\x00\xa5garbage\r\n\r\n'
python3 /tmp/acc/raw.py 127.0.0.1 $P 'GET /sp ace HTTP/1.1\r\nHost: x\r\n\r\n'
c http://127.0.0.1:$P/cgi/slow.sh
python3 /tmp/acc/raw.py 127.0.0.1 $P "\\r\\n"
