#!/bin/sh
# Installs what the tests and the demo need, when it is missing: Debian's
# tomcat10 (Tomcat 10.1; Java 17 comes with it), and Apache httpd with
# mod_proxy_ajp and mod_jk, which the tests compare caddy-ajp with, and
# Chromium, which the manager page's test drives headless. With "bench" it
# also installs wrk and h2load (nghttp2-client), the load generators of
# `make bench` (HTTP/1.1 and HTTP/2; mod_ssl and mod_http2 come with apache2).
set -eu

need=""
[ -f /usr/share/tomcat10/bin/bootstrap.jar ] || need="$need tomcat10"
command -v java >/dev/null 2>&1 || need="$need default-jre-headless"
[ -x /usr/sbin/apache2 ] || need="$need apache2"
[ -f /usr/lib/apache2/modules/mod_jk.so ] || need="$need libapache2-mod-jk"
[ -x /usr/bin/chromium ] || need="$need chromium"
if [ "${1:-}" = bench ]; then
	command -v wrk >/dev/null 2>&1 || need="$need wrk"
	command -v h2load >/dev/null 2>&1 || need="$need nghttp2-client"
fi
[ -n "$need" ] || exit 0

echo "deps: installing$need" >&2
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq </dev/null
# policy-rc.d keeps the packages from starting their services: the tests
# start their own servers on 127.0.0.1 and stop them by PID.
rc=/usr/sbin/policy-rc.d
made_rc=""
if [ ! -e $rc ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee $rc >/dev/null && $SUDO chmod +x $rc && made_rc=1
fi
$SUDO apt-get install -y -qq --no-install-recommends $need </dev/null
[ -z "$made_rc" ] || $SUDO rm -f $rc
