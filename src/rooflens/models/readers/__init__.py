"""Readers of the attention, MoE and multimodal architectures of 2025-2026 and of the
attention-free state-space models, one module per family; `config.py` registers them
(READERS)."""

from rooflens.models.readers.afmoe import read_afmoe
from rooflens.models.readers.apertus import read_apertus
from rooflens.models.readers.aya_vision import read_aya_vision
from rooflens.models.readers.bailing import read_bailing_moe
from rooflens.models.readers.bailing_hybrid import read_bailing_hybrid
from rooflens.models.readers.bloom import read_bloom
from rooflens.models.readers.cohere import read_cohere
from rooflens.models.readers.cohere2 import read_cohere2
from rooflens.models.readers.cohere2_moe import read_cohere2_moe
from rooflens.models.readers.dbrx import read_dbrx
from rooflens.models.readers.deepseek import (
    read_deepseek_v32,
    read_glm4_moe,
    read_glm_moe_dsa,
    read_kimi_k2,
)
from rooflens.models.readers.deepseek_v4 import read_deepseek_v4
from rooflens.models.readers.dots import read_dots1
from rooflens.models.readers.ernie import read_ernie4_5, read_ernie4_5_moe
from rooflens.models.readers.exaone4 import read_exaone4
from rooflens.models.readers.exaone4_5 import read_exaone4_5
from rooflens.models.readers.exaone_moe import read_exaone_moe
from rooflens.models.readers.gemma3 import read_gemma3, read_gemma3_text
from rooflens.models.readers.gemma3n import read_gemma3n, read_gemma3n_text
from rooflens.models.readers.gemma4 import read_gemma4, read_gemma4_text
from rooflens.models.readers.glm4 import read_glm, read_glm4
from rooflens.models.readers.glm4_moe_lite import read_glm4_moe_lite
from rooflens.models.readers.glm4v import read_glm4v, read_glm4v_moe
from rooflens.models.readers.gpt_bigcode import read_gpt_bigcode
from rooflens.models.readers.gpt_oss import read_gpt_oss
from rooflens.models.readers.granite import read_granite, read_granite_swa
from rooflens.models.readers.granitemoe import (
    read_granitemoe,
    read_granitemoe_swa,
    read_granitemoeshared,
)
from rooflens.models.readers.hunyuan import read_hunyuan_v1_dense, read_hunyuan_v1_moe
from rooflens.models.readers.hy_v3 import read_hy_v3
from rooflens.models.readers.idefics3 import read_idefics3
from rooflens.models.readers.internvl import read_internvl
from rooflens.models.readers.jetmoe import read_jetmoe
from rooflens.models.readers.kimi_k3 import read_kimi_k3
from rooflens.models.readers.kimi_k25 import read_kimi_k25
from rooflens.models.readers.lfm2_vl import read_lfm2_vl
from rooflens.models.readers.llama4 import read_llama4, read_llama4_text
from rooflens.models.readers.llama_kin import (
    read_cwm,
    read_exaone,
    read_helium,
    read_internlm3,
    read_iquestcoder,
    read_ministral,
)
from rooflens.models.readers.llava import read_llava, read_llava_next, read_llava_onevision
from rooflens.models.readers.longcat import read_longcat_flash
from rooflens.models.readers.mamba import read_falcon_mamba, read_mamba, read_mamba2
from rooflens.models.readers.mimo import read_mimo
from rooflens.models.readers.mimo_v2 import read_mimo_v2_flash
from rooflens.models.readers.minicpm3 import read_minicpm3
from rooflens.models.readers.minicpm5_moe import read_minicpm5_moe
from rooflens.models.readers.minimax import read_minimax_m2, read_minimax_m3
from rooflens.models.readers.minimax_vl import read_minimax_m3_vl
from rooflens.models.readers.ministral3 import read_ministral3
from rooflens.models.readers.mistral4 import read_mistral4, read_mistral_large4
from rooflens.models.readers.mpt import read_mpt
from rooflens.models.readers.nanochat import read_nanochat
from rooflens.models.readers.nemotron_nas import read_nemotron_nas
from rooflens.models.readers.nongated import read_arcee, read_jais2, read_nemotron
from rooflens.models.readers.olmo import read_olmo, read_olmo2, read_olmo3
from rooflens.models.readers.olmoe import read_olmoe
from rooflens.models.readers.param2moe import read_param2moe
from rooflens.models.readers.phi import read_phi
from rooflens.models.readers.phimoe import read_phimoe
from rooflens.models.readers.qwen2_vl import read_qwen2_5_vl, read_qwen2_vl
from rooflens.models.readers.recurrent_gemma import read_recurrent_gemma
from rooflens.models.readers.sarvam import read_sarvam_mla, read_sarvam_moe
from rooflens.models.readers.seed_oss import read_seed_oss
from rooflens.models.readers.smollm3 import read_smollm3
from rooflens.models.readers.solar_open import read_solar_open
from rooflens.models.readers.stablelm import read_stablelm
from rooflens.models.readers.starcoder2 import read_starcoder2
from rooflens.models.readers.step import read_step3p5, read_step3p7
from rooflens.models.readers.vaultgemma import read_vaultgemma
from rooflens.models.readers.wrappers import read_mistral3, read_qwen3_vl, read_qwen3_vl_moe
from rooflens.models.readers.youtu import read_youtu

NEW_READERS = {
    "gpt_oss": read_gpt_oss,
    "llama4": read_llama4,
    "llama4_text": read_llama4_text,
    "gemma3": read_gemma3,
    "gemma3_text": read_gemma3_text,
    "gemma4": read_gemma4,
    "gemma4_text": read_gemma4_text,
    "deepseek_v32": read_deepseek_v32,
    "deepseek_v4": read_deepseek_v4,
    "glm4_moe": read_glm4_moe,
    "glm_moe_dsa": read_glm_moe_dsa,
    "kimi_k2": read_kimi_k2,
    "kimi_k25": read_kimi_k25,
    "kimi_k3": read_kimi_k3,
    "minimax_m2": read_minimax_m2,
    "minimax_m3": read_minimax_m3,
    "qwen3_vl": read_qwen3_vl,
    "qwen3_vl_moe": read_qwen3_vl_moe,
    "mistral3": read_mistral3,
    "nemotron-nas": read_nemotron_nas,
    "glm4": read_glm4,
    "seed_oss": read_seed_oss,
    "olmo2": read_olmo2,
    "olmo3": read_olmo3,
    "granite": read_granite,
    "smollm3": read_smollm3,
    "exaone4": read_exaone4,
    "cohere2": read_cohere2,
    "minimax_m3_vl": read_minimax_m3_vl,
    "step3p5": read_step3p5,
    "step3p7": read_step3p7,
    "ernie4_5_moe": read_ernie4_5_moe,
    "hunyuan_v1_moe": read_hunyuan_v1_moe,
    "dots1": read_dots1,
    "olmoe": read_olmoe,
    "phimoe": read_phimoe,
    "granitemoe": read_granitemoe,
    "granitemoeshared": read_granitemoeshared,
    "granitemoe_swa": read_granitemoe_swa,
    "granite_swa": read_granite_swa,
    "bailing_moe": read_bailing_moe,
    "bailing_moe_v2": read_bailing_moe,
    "bailing_hybrid": read_bailing_hybrid,
    "mimo": read_mimo,
    "ernie4_5": read_ernie4_5,
    "hunyuan_v1_dense": read_hunyuan_v1_dense,
    "apertus": read_apertus,
    "ministral3": read_ministral3,
    "exaone_moe": read_exaone_moe,
    "solar_open": read_solar_open,
    "mimo_v2_flash": read_mimo_v2_flash,
    "afmoe": read_afmoe,
    "glm4v": read_glm4v,
    "glm4v_moe": read_glm4v_moe,
    "qwen2_vl": read_qwen2_vl,
    "qwen2_5_vl": read_qwen2_5_vl,
    "llava": read_llava,
    "llava_next": read_llava_next,
    "llava_onevision": read_llava_onevision,
    "mamba": read_mamba,
    "falcon_mamba": read_falcon_mamba,
    "mamba2": read_mamba2,
    "phi": read_phi,
    "starcoder2": read_starcoder2,
    "cohere": read_cohere,
    "internlm3": read_internlm3,
    "exaone": read_exaone,
    "glm": read_glm,
    "helium": read_helium,
    "iquestcoder": read_iquestcoder,
    "ministral": read_ministral,
    "cwm": read_cwm,
    "arcee": read_arcee,
    "nemotron": read_nemotron,
    "jais2": read_jais2,
    "stablelm": read_stablelm,
    "olmo": read_olmo,
    "nanochat": read_nanochat,
    "vaultgemma": read_vaultgemma,
    "gpt_bigcode": read_gpt_bigcode,
    "dbrx": read_dbrx,
    "youtu": read_youtu,
    "mistral4": read_mistral4,
    "hy_v3": read_hy_v3,
    "glm4_moe_lite": read_glm4_moe_lite,
    "sarvam_moe": read_sarvam_moe,
    "sarvam_mla": read_sarvam_mla,
    "param2moe": read_param2moe,
    "minicpm5_moe": read_minicpm5_moe,
    "cohere2_moe": read_cohere2_moe,
    "idefics3": read_idefics3,
    "smolvlm": read_idefics3,
    "internvl": read_internvl,
    "lfm2_vl": read_lfm2_vl,
    "aya_vision": read_aya_vision,
    "minicpm3": read_minicpm3,
    "bloom": read_bloom,
    "mpt": read_mpt,
    "exaone4_5": read_exaone4_5,
}

# Read only to refuse with what rooflens cannot express (a model_type it does not name at all
# gets "not supported"); left out of the supported types.
REFUSING_READERS = {
    "longcat_flash": read_longcat_flash,
    "gemma3n": read_gemma3n,
    "gemma3n_text": read_gemma3n_text,
    "recurrent_gemma": read_recurrent_gemma,
    "jetmoe": read_jetmoe,
    "mistral_large4": read_mistral_large4,
    "mistral_large4_text": read_mistral_large4,
}
