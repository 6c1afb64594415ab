#!/bin/sh
# Replace data/rdap-dns.json (the youngDomain detector's RDAP bootstrap)
# with IANA's current DNS bootstrap file (RFC 9224).  Needs the network;
# no test runs it.  The new file is checked before it replaces the old one:
# valid JSON with a non-empty "services" array whose base URLs are https.
#
# usage: scripts/refresh_rdap_bootstrap.sh [OUTPUT]   (default
#        data/rdap-dns.json next to this script's repository)
set -eu

URL=https://data.iana.org/rdap/dns.json
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/data/rdap-dns.json}
tmp=$(mktemp "${out}.XXXXXX")
trap 'rm -f "$tmp"' EXIT

curl --fail --silent --show-error --location --max-time 60 \
    --proto '=https' --output "$tmp" "$URL"

python3 - "$tmp" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
services = doc.get("services")
if not isinstance(services, list) or not services:
    sys.exit("refresh_rdap_bootstrap: no services in the download")
for tlds, urls in services:
    for u in urls:
        if not u.startswith("https://"):
            sys.exit("refresh_rdap_bootstrap: non-https base URL " + u)
ntld = sum(len(tlds) for tlds, _ in services)
print("rdap-dns.json: publication %s, %d services, %d TLDs"
      % (doc.get("publication"), len(services), ntld))
PY

chmod 644 "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "wrote $out"
