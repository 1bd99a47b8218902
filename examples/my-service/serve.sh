#!/bin/sh
# busybox httpd in the foreground, serving /www on the port the Deployment declares.
# As PID 1 a process without a SIGTERM handler ignores SIGTERM, and the kubelet would wait
# the whole grace period before SIGKILL; this shell stops httpd and exits at once.
httpd -f -v -p 8080 -h /www &
trap 'kill "$!" 2>/dev/null; exit 0' TERM INT
wait
