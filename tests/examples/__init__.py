"""Tests that run every script in examples/ and check the device kits in devices/kits/."""
