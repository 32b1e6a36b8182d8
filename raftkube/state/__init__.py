"""raftkube.state"""
