// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * conn_probe_v6: conn_probe built with ACCORD_IPV6, which the SDK now
 * accepts and ignores (IPv6 is parsed by default); the test checks it
 * parses exactly like the default build.
 */
#define ACCORD_IPV6
#include "conn_probe.bpf.c"
