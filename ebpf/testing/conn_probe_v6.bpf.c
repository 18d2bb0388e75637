// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * conn_probe_v6: conn_probe built with ACCORD_IPV6, for the test of the
 * parser's IPv6 branch (v4-mapped and native IPv6 peers).
 */
#define ACCORD_IPV6
#include "conn_probe.bpf.c"
