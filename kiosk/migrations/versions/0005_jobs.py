"""jobs: one intake row per archive position (a chunk done twice records nothing twice)

With the Celery backend an intake job's check chunks run on several worker machines
with ``acks_late``: a chunk whose worker died is delivered again, possibly while the
first delivery is still finishing.  The unique index on ``(job_id, position)`` makes
the second recording of a file fail inside its transaction (rolled back whole: photos,
review items and the row), so every file of an archive ends with exactly one outcome.
Rows from before 0004 all have ``position`` 0; they are renumbered by id first.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE intake_files SET position = id WHERE job_id IN ("
               "SELECT job_id FROM (SELECT job_id FROM intake_files GROUP BY job_id, position "
               "HAVING count(*) > 1) AS dup)")
    with op.batch_alter_table('intake_files', schema=None) as batch_op:
        batch_op.create_index('ux_intake_files_job_position', ['job_id', 'position'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('intake_files', schema=None) as batch_op:
        batch_op.drop_index('ux_intake_files_job_position')
