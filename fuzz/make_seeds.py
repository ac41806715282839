#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora into fuzz/corpus/<target>/: small valid inputs (and a few near misses)
for each parser to mutate from. Standard library only; rerun after changing it and commit the files."""
import json
import pathlib
import re
import struct

ROOT = pathlib.Path(__file__).resolve().parent
REPO = ROOT.parent
CORPUS = ROOT / "corpus"

SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8, "I32": 4,
         "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def safetensors(tensors, metadata=None, pad=True):
    """tensors: [(name, dtype, shape)]; data bytes are a counting pattern."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape in tensors:
        n = SIZES[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + n]}
        data += bytes((i * 37 + 11) % 251 for i in range(n))
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def write(target, name, content):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(content if isinstance(content, bytes) else content.encode())


def safetensors_seeds():
    t = "fuzz_safetensors"
    write(t, "two_f32.safetensors",
          safetensors([("model.embed_tokens.weight", "F32", [4, 2]), ("model.norm.weight", "F32", [2])],
                      {"format": "pt"}))
    write(t, "half_types.safetensors",
          safetensors([("a", "BF16", [3, 2]), ("b", "F16", [2, 2]), ("c", "F8_E4M3", [5]),
                       ("d", "F8_E5M2", [1, 3]), ("e", "F64", [2])]))
    write(t, "integers.safetensors",
          safetensors([("position_ids", "I64", [1, 4]), ("mask", "BOOL", [3]), ("q", "I8", [2, 2]),
                       ("u", "U8", [2])]))
    write(t, "scalar_and_empty.safetensors",
          safetensors([("scalar", "F32", []), ("empty", "F32", [0, 3]), ("after", "F16", [1])]))
    write(t, "no_tensors.safetensors", safetensors([], {"format": "pt", "note": "only metadata"}))
    write(t, "unpadded.safetensors", safetensors([("x", "F32", [1, 1, 2])], pad=False))
    # Near misses: truncated data, a lying header length.
    good = safetensors([("w", "F32", [2, 2])])
    write(t, "truncated.safetensors", good[:-3])
    write(t, "header_too_long.safetensors", struct.pack("<Q", 1 << 20) + good[8:])
    example = REPO / "examples/models/tiny-base/model.safetensors"
    if example.exists() and example.stat().st_size <= 64 * 1024:
        write(t, "example_tiny_base.safetensors", example.read_bytes())


def index_config_seeds():
    t = "fuzz_index_config"
    write(t, "llama_config.json", json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
        "num_hidden_layers": 4, "vocab_size": 128, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "rope_scaling": None, "layer_types": ["full_attention"] * 4}, indent=2))
    write(t, "nested_text_config.json", json.dumps({
        "model_type": "llava", "text_config": {"num_hidden_layers": 2, "hidden_size": 8},
        "vision_config": {"num_hidden_layers": 1}}))
    write(t, "index.json", json.dumps({
        "metadata": {"total_size": 1024},
        "weight_map": {"lm_head.weight": "model-00002-of-00002.safetensors",
                       "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                       "model.layers.0.mlp.up_proj.weight": "model-00001-of-00002.safetensors"}}, indent=2))
    write(t, "index_escape.json", json.dumps({"weight_map": {"a": "../outside.safetensors", "b": "/abs"}}))
    write(t, "index_unicode.json", json.dumps({"weight_map": {"\u00e9\u4e2d": "sub/dir/\u00fc.safetensors"}},
                                             ensure_ascii=False))
    write(t, "not_object.json", "[1, 2.5e3, \"x\", null, true, {\"k\": []}]")
    write(t, "bad_utf8.json", b"{\"weight_map\": {\"a\": \"\xc3\x28\"}}")


def recipe_seeds():
    t = "fuzz_recipe"
    for path in sorted((REPO / "examples").glob("*.yml")):
        write(t, "example_" + path.name, path.read_text())
    # The end-to-end cases' recipes (the `recipe: |` block of each case file).
    for path in sorted((REPO / "tests/cases").glob("*.yaml")):
        m = re.search(r"^recipe: \|\n((?:  .*\n|\n)+)", path.read_text(), re.M)
        if m:
            body = "".join(line[2:] if line.startswith("  ") else line for line in m.group(1).splitlines(True))
            write(t, "case_" + path.stem + ".yml", body.replace("${models}", "models"))
    write(t, "value_forms.yml", """merge_method: della
base_model: base
models:
  - model: a@main
    parameters:
      weight: [0.1, 0.5, 0.9]
      density: [{filter: self_attn, value: 0.7}, {filter: "*", value: [0.2, 0.4]}, {value: 0.5}]
      epsilon: 0.1
  - model: {model: {path: b}}
    parameters: {weight: 1e-1, density: 0.5, epsilon: 0.05}
parameters: {normalize: yes, int8_mask: off, lambda: 1.0, rescale: true}
dtype: bfloat16
out_dtype: float16
""")
    write(t, "slices.yml", """slices:
  - sources:
      - {model: a, layer_range: [0, 2], parameters: {t: 0.3}}
      - {model: b, layer_range: [2, 4]}
    base_model: a
    parameters: {t: [0, 1]}
  - sources: [{model: c, layer_range: [4, 8]}]
merge_method: slerp
tokenizer_source: base
chat_template: chatml
name: demo
""")
    write(t, "syntax_error.yml", "merge_method: linear\nmodels:\n  - model: a\n    parameters: weight: 0.5\n")


def added(token_id, content, special=True, **options):
    entry = {"id": token_id, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": not special, "special": special}
    entry.update(options)
    return entry


def tokenizer(model, added_tokens=(), **sections):
    doc = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": list(added_tokens),
           "normalizer": None, "pre_tokenizer": None, "post_processor": None, "decoder": None}
    doc.update(sections)
    doc["model"] = model
    return json.dumps(doc, indent=2, ensure_ascii=False)


def tokenizer_seeds():
    """tokenizer.json as the `tokenizers` library writes it: BPE (byte-level with string merges, Metaspace with
    pair merges and byte fallback, a continuing-subword prefix), WordPiece, WordLevel, Unigram, an old file
    without `model.type`, and near misses."""
    t = "fuzz_tokenizer_json"
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    vocab = {"!": 0, "a": 1, "b": 2, "c": 3, "\u0120": 4, "ab": 5, "abc": 6, "\u0120a": 7, "\u0120ab": 8}
    write(t, "bpe_byte_level.json", tokenizer(
        {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
         "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
         "vocab": vocab, "merges": ["a b", "ab c", "\u0120 a", "\u0120a b"]},
        [added(9, "<|endoftext|>"), added(10, "<|im_start|>"), added(11, "<|im_end|>")],
        pre_tokenizer=byte_level, decoder=byte_level,
        post_processor={"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                        "use_regex": True}))
    metaspace = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}
    pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(4)] + [
        "\u2581", "h", "i", "\u2581h", "\u2581hi", "\u4e2d", "\U0001f600"]
    write(t, "bpe_metaspace_byte_fallback.json", tokenizer(
        {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
         "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
         "vocab": {p: i for i, p in enumerate(pieces)},
         "merges": [["\u2581", "h"], ["\u2581h", "i"]]},
        [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>"), added(14, "<pad>", lstrip=True),
         added(15, " word", special=False, single_word=True, rstrip=True)],
        normalizer={"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                        {"type": "Replace", "pattern": {"String": " "},
                                                         "content": "\u2581"}]},
        pre_tokenizer=metaspace, decoder={"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
            {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        post_processor={"type": "TemplateProcessing",
                        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                   {"Sequence": {"id": "A", "type_id": 0}}],
                        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                        "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}))
    write(t, "bpe_subword_prefix.json", tokenizer(
        {"type": "BPE", "continuing_subword_prefix": "##", "end_of_word_suffix": "</w>",
         "vocab": {"[UNK]": 0, "x": 1, "##y": 2, "xy": 3, "##z": 4, "xyz": 5},
         "merges": ["x ##y", "xy ##z", "not a merge", ["x"]]}, [added(0, "[UNK]"), added(7, "[MASK]")]))
    write(t, "wordpiece_bert.json", tokenizer(
        {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
         "max_input_chars_per_word": 100,
         "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "the": 5, "##s": 6}},
        [added(i, c) for i, c in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])],
        normalizer={"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                    "strip_accents": None, "lowercase": True},
        pre_tokenizer={"type": "BertPreTokenizer"},
        post_processor={"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
        decoder={"type": "WordPiece", "prefix": "##", "cleanup": True}))
    write(t, "wordlevel.json", tokenizer(
        {"type": "WordLevel", "vocab": {"[UNK]": 0, "hello": 1, "world": 2, "": 3}, "unk_token": "[UNK]"},
        [added(0, "[UNK]"), added(4, "", special=False)], pre_tokenizer={"type": "Whitespace"}))
    write(t, "unigram.json", tokenizer(
        {"type": "Unigram", "unk_id": 0, "byte_fallback": False,
         "vocab": [["<unk>", 0.0], ["\u2581a", -1.5], ["b", -2.25], ["\u2581", -3.0], ["b", -9.5]]},
        [added(0, "<unk>"), added(5, "<mask>", lstrip=True)], pre_tokenizer=metaspace))
    write(t, "old_without_type.json", json.dumps(
        {"added_tokens": None, "model": {"vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}))
    example = REPO / "examples/models/tiny-base/tokenizer.json"
    if example.exists() and example.stat().st_size <= 64 * 1024:
        write(t, "example_tiny_base.json", example.read_bytes())
    # Near misses: two tokens with one id, an added token without an id, an id past the limit, a model
    # type it does not read, invalid UTF-8.
    write(t, "duplicate_id.json", json.dumps({"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}}))
    write(t, "added_without_id.json", json.dumps({"added_tokens": [{"content": "<s>"}],
                                                  "model": {"type": "WordLevel", "vocab": {}}}))
    write(t, "id_too_large.json", json.dumps({"model": {"type": "WordPiece", "vocab": {"a": 16777216}}}))
    write(t, "unsupported_type.json", json.dumps({"model": {"type": "CharLevel", "vocab": {"a": 0}}}))
    write(t, "bad_utf8.json", b'{"model": {"type": "BPE", "vocab": {"\xc3\x28": 0}, "merges": []}}')


if __name__ == "__main__":
    safetensors_seeds()
    index_config_seeds()
    recipe_seeds()
    tokenizer_seeds()
    for d in sorted(CORPUS.iterdir()):
        print(d.name, len(list(d.iterdir())), "files")
