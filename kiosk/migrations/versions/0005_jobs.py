"""jobs: one intake row per archive position; background_jobs for the other long jobs

With the Celery backend an intake job's check chunks run on several worker machines
with ``acks_late``: a chunk whose worker died is delivered again, possibly while the
first delivery is still finishing.  The unique index on ``(job_id, position)`` makes
the second recording of a file fail inside its transaction (rolled back whole: photos,
review items and the row), so every file of an archive ends with exactly one outcome.
Rows from before 0004 all have ``position`` 0; they are renumbered by id first.

``background_jobs`` holds the state, progress and result of the other long jobs
(upload-batch builds first): with several web processes and Celery workers, the process
that shows a job is not the one that runs it, so nothing about a job may live in memory.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


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
    op.create_table(
        'background_jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('done', sa.Integer(), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('result', sa.JSON(), nullable=False),
        sa.Column('error_code', sa.String(length=32), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('heartbeat_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_background_jobs_created_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_background_jobs')),
        sa.UniqueConstraint('key', name=op.f('uq_background_jobs_key')),
    )
    with op.batch_alter_table('background_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_background_jobs_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_background_jobs_status'), ['status'], unique=False)


def downgrade() -> None:
    op.drop_table('background_jobs')
    with op.batch_alter_table('intake_files', schema=None) as batch_op:
        batch_op.drop_index('ux_intake_files_job_position')
