"""qgraph's built-in passes, one per module, registered through the `qgraph_passes` hook
exactly as a third-party plugin's would be."""

from __future__ import annotations

import qgraph


@qgraph.hookimpl
def qgraph_passes():
    from qgraph.passes import (
        calibrate,
        check_compression,
        cluster_weights,
        dynamic_range,
        float16_weights,
        fold_batchnorm,
        fold_constant_scale,
        fold_input_cast,
        fold_pad,
        fuse_activation,
        insert_fake_quant,
        insert_float_boundaries,
        insert_io_quantize,
        keep_float,
        materialize_int8,
        merge_duplicate_ops,
        preserve_constraints,
        propagate_same_scale,
        prune_weights,
        quantize_activations,
        quantize_weights,
        remove_identity,
        sparse_weights,
        static_batch,
        unify_concat_scales,
    )

    return [
        remove_identity.RemoveIdentity(),
        merge_duplicate_ops.MergeDuplicateOps(),
        fold_pad.FoldPad(),
        fold_batchnorm.FoldBatchNorm(),
        fold_constant_scale.FoldConstantScale(),
        fuse_activation.FuseActivation(),
        prune_weights.PruneWeights(),
        cluster_weights.ClusterWeights(),
        preserve_constraints.PreserveConstraints(),
        calibrate.Calibrate(),
        keep_float.KeepFloat(),
        quantize_activations.QuantizeActivations(),
        unify_concat_scales.UnifyConcatScales(),
        propagate_same_scale.PropagateSameScale(),
        quantize_weights.QuantizeWeights(),
        insert_fake_quant.InsertFakeQuant(),
        insert_float_boundaries.InsertFloatBoundaries(),
        fold_input_cast.FoldInputCast(),
        insert_io_quantize.InsertIOQuantize(),
        materialize_int8.MaterializeInt8(),
        dynamic_range.DynamicRange(),
        check_compression.CheckCompression(),
        float16_weights.Float16Weights(),
        sparse_weights.SparseWeights(),
        static_batch.StaticBatch(),
    ]
