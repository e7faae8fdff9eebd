"""Configuration as code: ``madoguchi apply FILE`` makes a YAML workspace true in the
database, all or nothing; and the demo's seed. It composes the other capabilities'
use cases and must not import the web layer.
"""
