"""Test helpers: a real ``semsearch serve`` subprocess and a fault-injecting upstream."""
