"""batches: summary snapshot, file path; items carry kind and manifest row

A recorded batch must be rebuildable byte for byte, so the batch keeps what its summary
said and each item the manifest row it was written with (roster fields may change
later).  ``batch_items.kind`` repeats the batch's kind so that (kind, photo_id) can be
unique: one photo version is delivered at most once per channel.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on ``batches``: batch mode would recreate the table, and SQLite
    # refuses dropping a table that batch_items rows still reference.  The server
    # defaults stay (they only fill rows that existed before this revision).
    op.add_column('batches', sa.Column('summary', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    op.add_column('batches', sa.Column('zip_path', sa.String(length=1024), nullable=True))

    with op.batch_alter_table('batch_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=12), nullable=False, server_default='unit'))
        batch_op.add_column(sa.Column('row', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    # Items written before this revision (none are expected) take their batch's kind.
    op.execute("UPDATE batch_items SET kind = (SELECT batches.kind FROM batches "
               "WHERE batches.id = batch_items.batch_id)")
    with op.batch_alter_table('batch_items', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_batch_items_kind_photo_id'), ['kind', 'photo_id'])


def downgrade() -> None:
    with op.batch_alter_table('batch_items', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_batch_items_kind_photo_id'), type_='unique')
        batch_op.drop_column('row')
        batch_op.drop_column('kind')
    op.drop_column('batches', 'zip_path')
    op.drop_column('batches', 'summary')
