"""Several users at once: what one session uploads or predicts never shows in another.

Each AppTest is its own Streamlit session (its own session state) over the same process, so the
cached resources (tokenizer, models) are shared as on a real server while session state is not.
"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from app_pages import studio
from tests.helpers import as_shown, open_page, upload

SECRET_NAME = "private-reviews-of-alice.csv"
SECRET_ROWS = (
    "comment,stars\n"
    + "".join(f"alicesecret great product number {i},good\n" for i in range(30))
    + "".join(f"alicesecret broken thing number {i},bad\n" for i in range(30))
).encode()


def shown_text(app: AppTest) -> str:
    """Every text the page shows: messages, markdown, captions and the table cells."""
    parts = []
    for kind in ("markdown", "caption", "info", "success", "warning", "error", "title"):
        parts += [as_shown(element.value) for element in getattr(app, kind)]
    for table in app.dataframe:
        parts.append(table.value.to_csv())
    return "\n".join(parts)


def test_an_upload_in_one_session_is_absent_from_another(models):
    alice = upload(open_page("app_pages/data.py"), SECRET_NAME, SECRET_ROWS)
    assert not alice.exception
    assert alice.session_state[studio.DATASET].file_name == SECRET_NAME
    assert "alicesecret" in shown_text(alice)  # the marker shows where it should

    bob = open_page("app_pages/data.py")
    assert not bob.exception
    assert studio.DATASET not in bob.session_state or (
        bob.session_state[studio.DATASET].file_name != SECRET_NAME
    )
    assert bob.radio[0].value == "A bundled sample"
    assert SECRET_NAME not in shown_text(bob) and "alicesecret" not in shown_text(bob)
    bob.radio[0].set_value("My own file").run()  # no "file uploaded earlier" from Alice
    assert not bob.exception
    assert SECRET_NAME not in shown_text(bob) and "alicesecret" not in shown_text(bob)
    assert any("Upload a file to start" in info.value for info in bob.info)

    bob_train = open_page("app_pages/train.py")
    assert not bob_train.exception
    lines = [as_shown(m.value) for m in bob_train.markdown]
    data_line = next(line for line in lines if line.startswith("**Data:**"))
    assert SECRET_NAME not in data_line and "sentiment.csv" in data_line
    bob_data = bob_train.session_state[studio.DATASET]
    assert bob_data.from_sample
    assert not any("alicesecret" in text for text in bob_data.prepared.train.texts)

    alice.switch_page("app_pages/train.py").run()  # Alice still has her own data
    assert not alice.exception
    assert any(SECRET_NAME in as_shown(m.value) for m in alice.markdown)


def predicted(app: AppTest) -> list[str]:
    return [as_shown(m.value) for m in app.markdown if m.value.startswith("**Predicted:**")]


def test_two_sessions_predicting_different_texts_see_only_their_own(trained_run):
    alice, bob = open_page("app_pages/predict.py"), open_page("app_pages/predict.py")
    alice.text_area[0].set_value("the film was superb")  # both type before either clicks
    bob.text_area[0].set_value("the hotel was awful")
    alice.button[0].click()
    bob.button[0].click()
    alice.run()
    bob.run()
    assert not alice.exception and not bob.exception
    assert predicted(alice) == ["**Predicted:** positive"]
    assert predicted(bob) == ["**Predicted:** negative"]
    assert alice.text_area[0].value == "the film was superb"
    assert bob.text_area[0].value == "the hotel was awful"
    assert "awful" not in shown_text(alice) and "superb" not in shown_text(bob)
