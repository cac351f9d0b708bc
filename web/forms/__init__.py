"""Task forms: a task's JSON Schema rendered as accessible server-side HTML, and the submitted form parsed
back into JSON data of the right types.

A view does, roughly::

    data = parse_form(schema, request.form)
    action = form_actions(request.form)
    if action:  # "Lägg till rad" / "Ta bort rad N" (no JavaScript): show the form again, one row more or less
        return render_template(..., fields=render_form(schema, apply_action(data, action, schema=schema)))
    try:
        validate_form_data(validator, data)
    except ValidationError as e:
        return render_template(..., summary=error_summary(e.field_errors, schema),
                               fields=render_form(schema, data, e.field_errors)), 422

When a row button sent the form, ``parse_form`` keeps the empty rows so that the row numbers match the
screen; otherwise entirely empty rows are dropped.

Pressing Enter in a field "clicks" the form's first submit button. So that this is never "Ta bort rad 1",
a form with rows starts with a visually hidden, nameless submit button: Enter submits the form as a plain
submit without a button name (put your own default button first in the form if you want another default).

CSS: the ``form-*`` classes and ``visually-hidden`` are styled in ``web/static/css/infora.css``.
"""

from __future__ import annotations

from web.forms.parse import action_field_name, apply_action, form_actions, parse_form
from web.forms.render import error_summary, field_id, render_form

__all__ = [
    "action_field_name",
    "apply_action",
    "error_summary",
    "field_id",
    "form_actions",
    "parse_form",
    "render_form",
]
