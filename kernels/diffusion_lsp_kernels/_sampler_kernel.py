"""The Triton source of the fused row sampler (see ``sampler_triton``). Imported on first use only,
because ``triton.jit`` reads ``TRITON_INTERPRET`` when a kernel is defined."""

import triton
import triton.language as tl


@triton.jit
def _hash32(x):
    # lowbias32 on uint32 (wrapping multiplies), as sampler_ref.hash32
    x = x ^ (x >> 16)
    x = x * 0x7FEB352D
    x = x ^ (x >> 15)
    x = x * 0x846CA68B
    return x ^ (x >> 16)


@triton.jit
def row_sampler_partial(
    logits_ptr,
    stride_row,
    vocab,
    chunk,
    seed_mix,
    inv_temp,
    softcap,
    part_f_ptr,  # float32 [5, R, S]: max, sum exp, sum exp * z, Gumbel max, z at the Gumbel max
    part_i_ptr,  # int32 [2, R, S]: argmax, Gumbel argmax
    HAS_SOFTCAP: tl.constexpr,
    SAMPLE: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Statistics of one chunk of one row; program (row, chunk) streams ``chunk`` columns."""
    row = tl.program_id(0)
    part = tl.program_id(1)
    n_rows = tl.num_programs(0)
    n_parts = tl.num_programs(1)
    base = logits_ptr + row.to(tl.int64) * stride_row
    offs = tl.arange(0, BLOCK)
    row_key = _hash32(_hash32(row.to(tl.uint32)) + seed_mix.to(tl.uint32))
    first = part * chunk

    run_max = tl.full([], float("-inf"), tl.float32)  # running max of z
    run_sum = tl.full([], 0.0, tl.float32)  # sum exp(z - run_max)
    run_pz = tl.full([], 0.0, tl.float32)  # sum exp(z - run_max) * z
    best_idx = tl.full([], 0, tl.int32)
    gum_val = tl.full([], float("-inf"), tl.float32)
    gum_idx = tl.full([], 0, tl.int32)
    gum_z = tl.full([], 0.0, tl.float32)
    for off in range(0, chunk, BLOCK):
        idx = first + off + offs  # [BLOCK]
        valid = idx < vocab
        z = tl.load(base + idx, mask=valid, other=0.0).to(tl.float32)
        if HAS_SOFTCAP:
            # softcap * tanh(z / softcap), tanh(x) = 1 - 2 / (exp(2x) + 1)
            z = softcap * (1.0 - 2.0 / (tl.exp(2.0 * z / softcap) + 1.0))
        z = tl.where(valid, z * inv_temp, float("-inf"))
        block_max = tl.max(z, axis=0)
        block_arg = tl.argmax(z, axis=0)
        new_max = tl.maximum(run_max, block_max)
        e = tl.exp(z - new_max)  # 0 where z is -inf
        rescale = tl.exp(run_max - new_max)
        run_sum = run_sum * rescale + tl.sum(e, axis=0)
        run_pz = run_pz * rescale + tl.sum(tl.where(e > 0, z, 0.0) * e, axis=0)
        best_idx = tl.where(block_max > run_max, first + off + block_arg, best_idx)
        run_max = new_max
        if SAMPLE:
            bits = _hash32(idx.to(tl.uint32) ^ row_key)
            u = ((bits >> 8).to(tl.float32) + 0.5) * (1.0 / 16777216.0)
            perturbed = tl.where(valid, z - tl.log(-tl.log(u)), float("-inf"))
            block_gmax = tl.max(perturbed, axis=0)
            block_garg = tl.argmax(perturbed, axis=0)
            z_at = tl.sum(tl.where(offs == block_garg, z, 0.0), axis=0)
            better = block_gmax > gum_val
            gum_idx = tl.where(better, first + off + block_garg, gum_idx)
            gum_z = tl.where(better, z_at, gum_z)
            gum_val = tl.maximum(gum_val, block_gmax)

    plane = n_rows * n_parts
    at = row * n_parts + part
    tl.store(part_f_ptr + at, run_max)
    tl.store(part_f_ptr + plane + at, run_sum)
    tl.store(part_f_ptr + 2 * plane + at, run_pz)
    tl.store(part_f_ptr + 3 * plane + at, gum_val)
    tl.store(part_f_ptr + 4 * plane + at, gum_z)
    tl.store(part_i_ptr + at, best_idx)
    tl.store(part_i_ptr + plane + at, gum_idx)


@triton.jit
def row_sampler_combine(
    part_f_ptr,
    part_i_ptr,
    n_parts,
    argmax_ptr,
    sample_ptr,
    lse_ptr,
    entropy_ptr,
    argmax_prob_ptr,
    sample_prob_ptr,
    SAMPLE: tl.constexpr,
    PARTS: tl.constexpr,  # a power of two >= n_parts
):
    """Merge a row's chunk statistics (the online-softmax rescaling, first index on ties)."""
    row = tl.program_id(0)
    plane = tl.num_programs(0) * n_parts
    k = tl.arange(0, PARTS)
    valid = k < n_parts
    at = row * n_parts + k
    m = tl.load(part_f_ptr + at, mask=valid, other=float("-inf"))
    top = tl.max(m, axis=0)
    scale = tl.where(valid, tl.exp(m - top), 0.0)
    total = tl.sum(tl.load(part_f_ptr + plane + at, mask=valid, other=0.0) * scale, axis=0)
    pz = tl.sum(tl.load(part_f_ptr + 2 * plane + at, mask=valid, other=0.0) * scale, axis=0)
    best_part = tl.argmax(m, axis=0)
    best_idx = tl.sum(
        tl.where(k == best_part, tl.load(part_i_ptr + at, mask=valid, other=0), 0), axis=0
    )
    lse = top + tl.log(total)
    tl.store(lse_ptr + row, lse)
    tl.store(entropy_ptr + row, lse - pz / total)
    tl.store(argmax_ptr + row, best_idx.to(tl.int64))
    tl.store(argmax_prob_ptr + row, tl.exp(top - lse))
    if SAMPLE:
        g = tl.load(part_f_ptr + 3 * plane + at, mask=valid, other=float("-inf"))
        g_part = tl.argmax(g, axis=0)
        g_idx = tl.sum(
            tl.where(k == g_part, tl.load(part_i_ptr + plane + at, mask=valid, other=0), 0), axis=0
        )
        g_z = tl.sum(
            tl.where(k == g_part, tl.load(part_f_ptr + 4 * plane + at, mask=valid, other=0.0), 0.0),
            axis=0,
        )
        tl.store(sample_ptr + row, g_idx.to(tl.int64))
        tl.store(sample_prob_ptr + row, tl.exp(g_z - lse))
    else:
        tl.store(sample_ptr + row, best_idx.to(tl.int64))
        tl.store(sample_prob_ptr + row, tl.exp(top - lse))
