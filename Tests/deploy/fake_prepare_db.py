#!/usr/bin/env python3
"""`bingo prepare_db` for the playbook test (Tests/deploy/test_playbook.sh).

A TEST FIXTURE: the real bingo binary cannot be downloaded here. Like the
real one it reads /opt/bingo/config.yaml and creates the tables that
/work/shared/bingo.md's indexes refer to, with a little test data. Running it
twice fails (the tables exist), as a second prepare_db would have to be
prevented by the playbook anyway.
"""
import os
import subprocess

import yaml

config = yaml.safe_load(open("/opt/bingo/config.yaml"))["postgres_cluster"]
sql = """
CREATE TABLE movies (id int, name text, year int);
CREATE TABLE customers (id int, name text, surname text, birthday date);
CREATE TABLE sessions (id int, movie_id int, customer_id int);
INSERT INTO movies VALUES (1, 'a', 2000), (2, 'b', 2001);
INSERT INTO customers VALUES (1, 'x', 'y', '2000-01-01');
INSERT INTO sessions VALUES (1, 1, 1);
"""
subprocess.run(
    ["psql", "-h", config["hosts"][0]["address"], "-p", str(config["hosts"][0]["port"]),
     "-U", config["user"], "-d", config["db_name"], "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
    env=dict(os.environ, PGPASSWORD=config["password"]), check=True)
