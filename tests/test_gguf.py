"""GGUF export: the file's metadata and tokenizer, the Ollama Modelfile, and (marked `gguf`) a real run in
llama.cpp through llama-cpp-python that must tokenise like transformers and decode the same first tokens."""
import json

import pytest

from engine.export.gguf import FIRST_TOKENS, GGUFError, ollama_modelfile, until_eos, verify_gguf, write_gguf
from engine.data.templates import load_template

PROMPTS = [
    [{"role": "user", "content": "What is LoRA?"}],
    [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "How do I export a model?"}],
    [{"role": "user", "content": "学习率是什么？"}],
]


@pytest.fixture(scope="module")
def gguf_files(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gguf")
    return {kind: write_gguf(tiny_model, folder / f"tiny-{kind}.gguf", kind) for kind in ("f16", "q8_0")}


def test_metadata_tokenizer_and_tensor_types(gguf_files, tiny_model, tiny_tokenizer):
    from gguf import GGMLQuantizationType, GGUFReader

    config = json.loads((tiny_model / "config.json").read_text())
    for kind, path in gguf_files.items():
        reader = GGUFReader(str(path))
        value = lambda key: reader.fields[key].contents()  # noqa: E731
        assert value("general.architecture") == "llama"
        assert value("tokenizer.ggml.model") == "gpt2" and value("tokenizer.ggml.pre") == "gpt-2"
        tokens = value("tokenizer.ggml.tokens")
        assert len(tokens) == config["vocab_size"] == 4096
        assert tokens[tiny_tokenizer.eos_token_id] == "<|im_end|>" and value("tokenizer.ggml.eos_token_id") == 1
        assert value("tokenizer.ggml.add_bos_token") is False
        assert "<|im_start|>" in value("tokenizer.chat_template")
        types = {tensor.name: tensor.tensor_type for tensor in reader.tensors}
        assert "output.weight" not in types  # tied embeddings: llama.cpp reuses token_embd
        assert types["blk.0.attn_norm.weight"] == GGMLQuantizationType.F32
        expected = GGMLQuantizationType.Q8_0 if kind == "q8_0" else GGMLQuantizationType.F16
        assert types["blk.0.attn_q.weight"] == types["token_embd.weight"] == expected
    assert gguf_files["q8_0"].stat().st_size < 0.6 * gguf_files["f16"].stat().st_size


def test_refuses_what_it_cannot_write(tmp_path, tiny_model):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(GGUFError, match="LlamaForCausalLM"):
        write_gguf(tmp_path, tmp_path / "x.gguf")
    with pytest.raises(GGUFError, match="f16, q8_0"):
        write_gguf(tiny_model, tmp_path / "x.gguf", "q4_k")


def test_ollama_modelfile_speaks_chatml():
    text = ollama_modelfile("model-q8_0.gguf", load_template("chatml").source, ["<|im_end|>"])
    assert "FROM ./model-q8_0.gguf" in text
    assert "<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n" in text
    assert text.count('PARAMETER stop "<|im_end|>"') == 1 and 'PARAMETER stop "<|im_start|>"' in text
    unknown = ollama_modelfile("m.gguf", load_template("alpaca").source, ["</s>"])
    assert "TEMPLATE" not in unknown.replace("# This chat format has no Ollama template", "")
    assert 'PARAMETER stop "</s>"' in unknown


# ---------------------------------------------------------------------------------------------------------
# A real runtime


def llama_runtime():
    return pytest.importorskip(
        "llama_cpp", reason="llama-cpp-python is not installed: pip install llama-cpp-python (see README, GGUF)"
    )


@pytest.mark.gguf
def test_llama_cpp_tokenises_and_decodes_like_transformers(gguf_files, tiny_model, tiny_tokenizer):
    llama_runtime()
    template = load_template("chatml")
    texts = [
        tiny_tokenizer.apply_chat_template(
            p, chat_template=template.source, tokenize=False, add_generation_prompt=True
        )
        for p in PROMPTS
    ]
    texts.append("plain text, 中文混合 English… and symbols: <>&%$ 123")
    results = {kind: verify_gguf(path, texts, tiny_model, FIRST_TOKENS) for kind, path in gguf_files.items()}
    for kind, result in results.items():
        assert result["same_tokens"] == [True] * len(texts), kind
        assert result["runtime"].startswith("llama.cpp") and result["prompts"] == len(texts)
    # f16 stores weights at half precision and computes in f32: greedy decoding must agree exactly.
    f16 = results["f16"]
    assert f16["matching"] == len(texts), (f16["llama"], f16["transformers"])
    # q8_0 rounds each weight to 8 bits, so greedy paths may part early where the two best next tokens are
    # close (measured: the same first 16, 9 and 16 tokens here, but a clean CI build of the model parted at
    # the second token); the first token of each reply must agree.
    q8_0 = results["q8_0"]
    for got, expected in list(zip(q8_0["llama"], q8_0["transformers"]))[: len(PROMPTS)]:
        assert got[0] == expected[0]


def test_verify_compares_up_to_the_end_of_the_reply():
    assert until_eos([5, 1, 7], eos=1) == [5, 1]
    assert until_eos([5, 6], eos=1) == [5, 6]
