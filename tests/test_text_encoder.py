import torch


def test_shapes_mask_and_pooled(text_encoder):
    e = text_encoder.encode(["a red circle moving left on a black background", "a box"])
    assert e.tokens.shape[0] == 2 and e.tokens.shape[2] == 384
    assert e.mask.dtype == torch.bool and e.mask[0].all() and not e.mask[1].all()
    assert e.mask[1].sum() == 4  # [CLS] a box [SEP]
    torch.testing.assert_close(e.pooled.norm(dim=-1), torch.ones(2))


def test_deterministic_and_batch_independent(text_encoder):
    p = "a large blue square falling on a white background"
    a = text_encoder.encode([p])
    b = text_encoder.encode([p, "a much longer prompt with many more words than the first one has in it"])
    torch.testing.assert_close(a.tokens[0], b.tokens[0, : a.tokens.shape[1]], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a.pooled[0], b.pooled[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(text_encoder.encode([p]).tokens, a.tokens, atol=0, rtol=0)


def test_meaning_is_closer_for_paraphrases(text_encoder):
    e = text_encoder.encode(["a red ball moving left on a dark background",
                             "a red circle moving left on a black background",
                             "a green square falling on a white background"]).pooled
    assert e[0] @ e[1] > e[0] @ e[2]


def test_empty_prompt_embedding(text_encoder):
    empty = text_encoder.empty()
    assert len(empty) == 1 and empty.mask.sum() == 2  # [CLS] [SEP]
    assert text_encoder.empty() is empty


def test_where_mixes_rows_with_the_null_embedding(text_encoder):
    e = text_encoder.encode(["a red circle", "a blue square on white"])
    mixed = e.where(torch.tensor([True, False]), text_encoder.empty())
    torch.testing.assert_close(mixed.pooled[1], text_encoder.empty().pooled[0])
    assert mixed.mask[1].sum() == 2 and mixed.mask[0].sum() == e.mask[0].sum()


def test_kinema_forward_pass_matches_transformers_bert(text_encoder):
    """kinema.text.minilm (the default, fast to import) computes what transformers' BertModel does."""
    from kinema.text.encoder import TextEncoder

    assert text_encoder.backend == "kinema"
    reference = TextEncoder(backend="transformers")
    prompts = ["a red circle moves left on a black background", "", "Two squares: one BLUE, one yellow; bouncing!",
               "word " * 100]  # truncated to MAX_TOKENS
    a, b = text_encoder.encode(prompts), reference.encode(prompts)
    assert torch.equal(a.mask, b.mask)
    torch.testing.assert_close(a.tokens[a.mask], b.tokens[b.mask], atol=1e-4, rtol=0)
    torch.testing.assert_close(a.pooled, b.pooled, atol=1e-5, rtol=0)


def test_unknown_backend_is_refused():
    import pytest

    from kinema.text.encoder import TextEncoder

    with pytest.raises(ValueError, match="backend"):
        TextEncoder(backend="onnx")


def test_one_encoder_per_process_however_the_call_is_spelled(text_encoder):
    from kinema.text.encoder import load_text_encoder

    assert load_text_encoder() is text_encoder
    assert load_text_encoder(device="cpu") is text_encoder
    assert load_text_encoder(None, "cpu", "kinema") is text_encoder
