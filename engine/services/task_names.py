"""The names a task is shown with — its case's pathway and region, its unit, its role and who has
taken it — as correlated scalar subqueries over the task index row and its case, for the inbox and
the task page.

Subqueries rather than five outer joins: with the joins PostgreSQL spent ~9 ms planning every inbox
(more than running it) in the load run (bench/load_run.py); a subquery plans in well under a
millisecond and runs only for the rows read. Built once: building them per request costs more than
it looks.
"""

from __future__ import annotations

from sqlalchemy import select

from engine.persistence import Case, Pathway, Region, Role, TaskIndexRow, Unit, User

_T = TaskIndexRow
PATHWAY = select(Pathway.name).where(Pathway.id == Case.pathway_id).correlate(Case).scalar_subquery()
REGION = select(Region.name).where(Region.id == Case.region_id).correlate(Case).scalar_subquery()
UNIT = select(Unit.name).where(Unit.id == _T.unit_id).correlate(_T).scalar_subquery()
ROLE = select(Role.name_sv).where(Role.code == _T.lane).correlate(_T).scalar_subquery()
ASSIGNEE = select(User.display_name).where(User.id == _T.assignee_id).correlate(_T).scalar_subquery()
