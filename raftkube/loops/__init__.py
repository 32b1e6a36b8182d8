"""raftkube.loops"""
