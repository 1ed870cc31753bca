"""station: calls to the station (retake from the review queue), pinyin name search

``station_calls`` holds "call this student to the station" requests (the review queue's
重拍 action); the station lists open ones first.  ``students.name_pinyin`` is the pinyin
search key of the name (``kiosk.pinyin.search_key``), filled here for existing rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'station_calls',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('term_id', sa.Integer(), nullable=False),
        sa.Column('student_id', sa.Integer(), nullable=False),
        sa.Column('review_item_id', sa.Integer(), nullable=True),
        sa.Column('reason', sa.String(length=200), nullable=False),
        sa.Column('requested_by_id', sa.Integer(), nullable=True),
        sa.Column('requested_at', sa.DateTime(), nullable=False),
        sa.Column('done_at', sa.DateTime(), nullable=True),
        sa.Column('done_photo_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['done_photo_id'], ['photos.id'], name=op.f('fk_station_calls_done_photo_id_photos')),
        sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_station_calls_requested_by_id_users')),
        sa.ForeignKeyConstraint(['review_item_id'], ['review_items.id'],
                                name=op.f('fk_station_calls_review_item_id_review_items')),
        sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_station_calls_student_id_students')),
        sa.ForeignKeyConstraint(['term_id'], ['terms.id'], name=op.f('fk_station_calls_term_id_terms')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_station_calls')),
    )
    with op.batch_alter_table('station_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_station_calls_student_id'), ['student_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_station_calls_term_id'), ['term_id'], unique=False)

    # Plain ADD COLUMN: batch mode would recreate ``students``, which many tables reference.
    op.add_column('students', sa.Column('name_pinyin', sa.String(length=200), nullable=True))
    _fill_pinyin()


def _fill_pinyin() -> None:
    from kiosk.pinyin import search_key

    conn = op.get_bind()
    students = sa.table('students', sa.column('id', sa.Integer), sa.column('name', sa.String),
                        sa.column('name_pinyin', sa.String))
    rows = conn.execute(sa.select(students.c.id, students.c.name)).all()
    updates = [{"sid": sid, "key": search_key(name)} for sid, name in rows]
    if updates:
        conn.execute(students.update().where(students.c.id == sa.bindparam("sid"))
                     .values(name_pinyin=sa.bindparam("key")), updates)


def downgrade() -> None:
    op.drop_column('students', 'name_pinyin')
    with op.batch_alter_table('station_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_station_calls_term_id'))
        batch_op.drop_index(batch_op.f('ix_station_calls_student_id'))
    op.drop_table('station_calls')
