"""config.json readers of the attention-free state-space models: Mamba (transformers'
MambaConfig), Falcon Mamba (FalconMambaConfig) and Mamba-2 (Mamba2Config). Each of their layers
is an RMSNorm, the mixer and the residual add: no attention, no MLP, no KV cache; a sequence
keeps only the mixers' fixed recurrent state (core.mixers)."""

from __future__ import annotations

from rooflens.core.errors import ModelConfigError
from rooflens.core.mixers import Mixer
from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _spec
from rooflens.models.hybrids import MAMBA_KEYS, mamba1_mixer
from rooflens.models.readers.common import stated_length
from rooflens.models.readers.moe_fields import refuse


def _silu(c: _Config) -> None:
    """The mixers' activation (the convolution's, and the gate's of Mamba-2), which the
    causal-conv1d kernel both engines call runs as SiLU only."""
    act = c.get("hidden_act", "silu")
    if act not in ("silu", "swish"):
        refuse(c, "hidden_act", act, "'silu'")


def _attention_free(c: _Config, name: str, mixer: Mixer, tied: bool) -> ModelSpec:
    """Every layer the `mixer` (after one RMSNorm), no attention and no MLP. ModelSpec's
    attention and MLP widths, which no layer uses, stand as the mixer's heads and width: tensor
    parallelism then splits them exactly where it splits the mixer. One KV head of width 1 is
    the smallest unit a sequence's state is counted and paged in (serving.replica counts the
    state in tokens' worth of every layer's K and V, in blocks of them): a wider one had
    rounded Falcon Mamba 7B's 19.9 MB state up to 33.6 MB."""
    n = c.req("num_hidden_layers")
    positions, stated = stated_length(c)
    return _spec(
        dict(
            name=name,
            model_type=c.model_type,
            num_layers=n,
            hidden_size=c.req("hidden_size"),
            num_heads=mixer.num_heads,
            num_kv_heads=1,
            head_dim=1,
            intermediate_size=mixer.value_width,
            vocab_size=c.req("vocab_size"),
            max_positions=positions,
            positions_stated=stated,
            tied_embeddings=c.get("tie_word_embeddings", tied),
            gated_mlp=False,
            activation="silu",
            norm="rmsnorm",
            mixer=mixer,
            mixer_layers=n,
            attention_layers=0,
            mlp_layers=0,
        )
    )


def _mamba1(c: _Config, name: str, falcon: bool) -> ModelSpec:
    """Mamba (MambaMixer): in_proj h -> 2 x inner (x and the gate z), a causal conv over x,
    x_proj inner -> dt rank + 2 x state (dt, B, C), dt_proj rank -> inner (biased), the
    selective scan, y * silu(z), out_proj. Falcon Mamba (FalconMambaMixer) RMS-normalizes dt,
    B and C without learned weights (vLLM's MambaMixer: rms_norm_has_weight=False)."""
    _silu(c)
    hidden = c.req("hidden_size")
    # The config's intermediate_size, where it gives one, overrides expand x hidden_size in
    # both engines (MambaConfig sets it, then the config.json's keys; vLLM reads the attribute):
    # Falcon Mamba 7B's gives 8192 beside expand 16.
    if c.raw.get("intermediate_size") is not None:
        inner_key, inner = "intermediate_size", c.positive("intermediate_size")
    else:
        inner_key, inner = "expand", c.positive("expand", 2) * hidden
    mixer = mamba1_mixer(
        c, inner, inner_key, MAMBA_KEYS, inner_norms=falcon, inner_norm_weights=False
    )
    return _attention_free(c, name, mixer, tied=True)


def read_mamba(c: _Config, name: str) -> ModelSpec:
    return _mamba1(c, name, falcon=False)


def read_falcon_mamba(c: _Config, name: str) -> ModelSpec:
    return _mamba1(c, name, falcon=True)


# The config.json keys of Mamba2Config's mixer fields.
_MAMBA2_KEYS = {
    "num_heads": "num_heads",
    "head_dim": "head_dim",
    "num_key_heads": "n_groups",
    "key_dim": "state_size",
    "conv_kernel": "conv_kernel",
    "chunk_size": "chunk_size",
}


def read_mamba2(c: _Config, name: str) -> ModelSpec:
    """Mamba-2 (Mamba2Mixer): in_proj h -> z, x, B, C (n_groups x state_size each) and dt
    (one per head), a causal conv over x, B and C, the SSD scan, a gated RMSNorm (y * silu(z),
    normed in n_groups groups), out_proj."""
    _silu(c)
    hidden = c.req("hidden_size")
    heads, head_dim = c.positive("num_heads", 128), c.positive("head_dim", 64)
    expand = c.positive("expand", 2)
    # Mamba2Config refuses the two widths apart (validate_architecture); vLLM's in_proj is
    # built at the config's intermediate_size where it has one.
    inner = c.get("intermediate_size", expand * hidden)
    if not expand * hidden == inner == heads * head_dim:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: expand={expand} x hidden_size="
            f"{hidden} (or intermediate_size={inner}) is invalid: expected num_heads={heads} x "
            f"head_dim={head_dim} = {heads * head_dim}"
        )
    mixer = c.built(
        Mixer,
        _MAMBA2_KEYS,
        kind="mamba2",
        num_heads=heads,
        head_dim=head_dim,
        num_key_heads=c.get("n_groups", 8),
        key_dim=c.get("state_size", 128),
        conv_kernel=c.positive("conv_kernel", 4),
        chunk_size=c.get("chunk_size", 256),
        in_bias=c.get("use_bias", False),
        out_bias=c.get("use_bias", False),
        conv_bias=c.get("use_conv_bias", True),
    )
    return _attention_free(c, name, mixer, tied=False)
