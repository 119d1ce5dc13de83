"""qgraph's built-in passes, one per module, registered through the `qgraph_passes` hook
exactly as a third-party plugin's would be."""

from __future__ import annotations

import qgraph


@qgraph.hookimpl
def qgraph_passes():
    from qgraph.passes import fold_batchnorm, fold_pad, fuse_activation, remove_identity

    return [
        remove_identity.RemoveIdentity(),
        fold_pad.FoldPad(),
        fold_batchnorm.FoldBatchNorm(),
        fuse_activation.FuseActivation(),
    ]
