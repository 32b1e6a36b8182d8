"""raftkube.netproxy"""
