import pytest


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from tooltune.testing.tiny import make_tiny_tokenizer

    return make_tiny_tokenizer()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from tooltune.testing.tiny import make_tiny_model_dir

    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny-model"))
