"""Send a `netlink.batch` to the kernel as one nftables transaction (pyroute2, sync API).

Runs inside the host's network namespace (the helper is there; `NFTables` has no netns
argument) and in a plain thread: pyroute2's sync API refuses a running event loop.
"""

from __future__ import annotations

from pyroute2.netlink import NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST
from pyroute2.netlink.nfnetlink import NFNL_SUBSYS_NFTABLES, nfgen_msg
from pyroute2.netlink.nfnetlink import nftsocket as nfts
from pyroute2.nftables.main import NFTables

_TYPES = {
    "NEWTABLE": (nfts.NFT_MSG_NEWTABLE, nfts.nft_table_msg, NLM_F_CREATE),
    "DELTABLE": (nfts.NFT_MSG_DELTABLE, nfts.nft_table_msg, 0),
    "NEWCHAIN": (nfts.NFT_MSG_NEWCHAIN, nfts.nft_chain_msg, NLM_F_CREATE),
    "DELCHAIN": (nfts.NFT_MSG_DELCHAIN, nfts.nft_chain_msg, 0),
    "NEWRULE": (nfts.NFT_MSG_NEWRULE, nfts.nft_rule_msg, NLM_F_CREATE | NLM_F_APPEND),
    "DELRULE": (nfts.NFT_MSG_DELRULE, nfts.nft_rule_msg, 0),
    "NEWSET": (nfts.NFT_MSG_NEWSET, nfts.nft_set_msg, NLM_F_CREATE),
    "NEWSETELEM": (nfts.NFT_MSG_NEWSETELEM, nfts.nft_set_elem_list_msg, NLM_F_CREATE),
    "DELSETELEM": (nfts.NFT_MSG_DELSETELEM, nfts.nft_set_elem_list_msg, 0),
}
_BATCH_BEGIN, _BATCH_END = 0x10, 0x11
FAMILY_IP = 2


def send(messages: list) -> None:
    """Apply `messages` atomically: all of them or, on any error, none (NetlinkError)."""
    if not messages:
        return
    wire = [_batch_marker(_BATCH_BEGIN)]
    for kind, attrs in messages:
        msg_type, msg_class, flags = _TYPES[kind]
        msg = msg_class()
        msg["attrs"] = [list(attr) for attr in attrs]
        msg["nfgen_family"] = FAMILY_IP
        msg["header"]["type"] = (NFNL_SUBSYS_NFTABLES << 8) | msg_type
        msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | flags
        wire.append(msg)
    wire.append(_batch_marker(_BATCH_END))
    with NFTables(nfgen_family=FAMILY_IP) as nft:
        nft.nlm_request_batch(wire)


def _batch_marker(msg_type: int) -> nfgen_msg:
    msg = nfgen_msg()
    msg["res_id"] = NFNL_SUBSYS_NFTABLES
    msg["header"]["type"] = msg_type
    msg["header"]["flags"] = NLM_F_REQUEST
    return msg
