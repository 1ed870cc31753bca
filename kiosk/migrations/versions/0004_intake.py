"""intake: job phase, heartbeat and post-approval progress; how each file was matched

A bulk intake runs for minutes in a background worker pool.  The job row carries what a
page reload (or another process) needs to show it: the phase it is in, when it last
made progress (a job whose heartbeat stopped is reported as interrupted, not "running"
for ever), the progress of the post-approval phase (encodings + identity/duplicate
hooks), who started it when that was not a user (the CLI), and its options.
``intake_files.key_kind`` records how the file was matched (学号, 身份证号, manifest) and
``position`` its place in the archive (the report lists files in archive order).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild on SQLite); defaults fill rows from before.
    op.add_column('intake_jobs', sa.Column('phase', sa.String(length=16), nullable=False, server_default=''))
    op.add_column('intake_jobs', sa.Column('heartbeat_at', sa.DateTime(), nullable=True))
    op.add_column('intake_jobs', sa.Column('post_total', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('intake_jobs', sa.Column('post_done', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('intake_jobs', sa.Column('created_by_name', sa.String(length=80), nullable=False,
                                           server_default=''))
    op.add_column('intake_jobs', sa.Column('options', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    op.add_column('intake_files', sa.Column('key_kind', sa.String(length=8), nullable=True))
    op.add_column('intake_files', sa.Column('position', sa.Integer(), nullable=False, server_default='0'))
    op.create_index(op.f('ix_intake_files_student_id'), 'intake_files', ['student_id'], unique=False)
    op.create_index(op.f('ix_intake_jobs_status'), 'intake_jobs', ['status'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_intake_jobs_status'), table_name='intake_jobs')
    op.drop_index(op.f('ix_intake_files_student_id'), table_name='intake_files')
    with op.batch_alter_table('intake_files', schema=None) as batch_op:
        batch_op.drop_column('position')
        batch_op.drop_column('key_kind')
    with op.batch_alter_table('intake_jobs', schema=None) as batch_op:
        for col in ('options', 'created_by_name', 'post_done', 'post_total', 'heartbeat_at', 'phase'):
            batch_op.drop_column(col)
