"""raftkube: Kubernetes-style orchestration, Raft-replicated masters, agentless hosts."""

__version__ = "0.1.0"
