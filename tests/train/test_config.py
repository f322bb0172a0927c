import pytest

from tooltune.train.config import DEFAULT_RECIPE, RecipeError, TrainConfig, make_config, recipe_names


def test_every_shipped_recipe_validates():
    names = recipe_names()
    assert DEFAULT_RECIPE in names and len(names) >= 5
    for name in names:
        assert isinstance(make_config(name), TrainConfig)


def test_flags_override_recipe_and_none_keeps_it():
    base = make_config(None)
    cfg = make_config(None, {"lr": 0.123, "epochs": None})
    assert cfg.lr == 0.123 and cfg.epochs == base.epochs


def test_unknown_key_is_named(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("lr: 0.001\nlearning_rate_typo: 3\n")
    with pytest.raises(RecipeError, match="unknown key 'learning_rate_typo'"):
        make_config(str(bad))


def test_bad_value_and_unknown_recipe():
    with pytest.raises(RecipeError, match="method"):
        make_config(None, {"method": "qlora-turbo"})
    with pytest.raises(RecipeError, match="unknown recipe"):
        make_config("no-such-recipe")


def test_every_field_is_described():
    assert all(f.description for f in TrainConfig.model_fields.values())
