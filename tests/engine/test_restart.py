"""Stop and restart: a fresh process (empty caches, new spec objects) loads every case from the
database and continues it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from engine.persistence import Case, FormSubmission
from engine.services import send_signal
from tests.conftest import ROOT
from tests.factories import do, start_skane, start_vgr

CONTINUE_EVERY_CASE = textwrap.dedent(
    """
    import json, sys
    from sqlalchemy import select
    from engine.catalogue.sample_forms import sample_form_data
    from engine.persistence import Case, TaskIndexRow
    from engine.persistence.database import make_engine, make_session_factory, unit_of_work
    from engine.services import SYSTEM_ACTOR, complete_task
    from engine.services.case_store import lock_case
    from engine.services.versions import VERSION_CACHE

    assert VERSION_CACHE.get("anything") is None
    engine = make_engine(sys.argv[1])
    factory = make_session_factory(engine)
    done = {}
    with unit_of_work(factory) as s:
        for case in s.scalars(select(Case).where(Case.status == "running").order_by(Case.id)).all():
            locked = lock_case(s, case.id)
            tasks = locked.workflow.human_tasks()
            row = s.scalars(select(TaskIndexRow).where(TaskIndexRow.task_id == tasks[0].task_id)).one()
            data = sample_form_data(locked.version.forms[row.form])
            complete_task(s, SYSTEM_ACTOR, row.task_id, data)
            done[case.id] = tasks[0].bpmn_id
    engine.dispose()
    print(json.dumps(done))
    """
)


def test_a_new_process_loads_and_continues_every_case(published: Session, db_engine: Engine) -> None:
    s = published
    vgr, team, _ = start_vgr(s, units=2)
    skane, skane_team, _ = start_skane(s, units=2, prefix="sk")
    s.commit()
    do(s, team, vgr, "step_01_consultation")
    send_signal(s, team.coordinator, vgr, "godkand_nationellt")
    s.commit()
    do(s, skane_team, skane, "lag_appoint")
    s.close()

    url = db_engine.url.render_as_string(hide_password=False)
    result = subprocess.run(
        [sys.executable, "-c", CONTINUE_EVERY_CASE, url], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {str(vgr): "step_02_preparation", str(skane): "lag_analysis"}

    with Session(db_engine) as check:
        versions = {case_id: version for case_id, version in check.execute(select(Case.id, Case.version))}
        assert versions[vgr] > 1 and versions[skane] > 1
        submitted = set(check.scalars(select(FormSubmission.bpmn_id)))
        assert {"step_02_preparation", "lag_analysis"} <= submitted
