// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * conn_probe_v4only: conn_probe built with ACCORD_NO_IPV6 (the IPv4-only
 * parser), for the test that AF_INET6 sockets then stay unparsed.
 */
#define ACCORD_NO_IPV6
#include "conn_probe.bpf.c"
