"""prepare_db: the four tables WITHOUT keys or indexes (the installation adds
them: deploy/ansible/roles/postgresql/files/bingo-indexes.sql) and the test
data, generated inside the server (generate_series) so 5 M rows take seconds.

The data is made by PostgreSQL's random() after setseed(), so one seed gives
the same rows on every node. The table is created without IF NOT EXISTS: a
second prepare_db fails instead of doubling the data ("never delete it").
"""

from __future__ import annotations

FULL = {"sessions": 5_000_000, "customers": 500_000, "movies": 29_019}

SCHEMA = """
CREATE TABLE public.schema_migrations (version bigint NOT NULL, dirty boolean NOT NULL);
CREATE TABLE public.movies (id int, name varchar(256), year int, duration int);
CREATE TABLE public.customers (id int, name varchar(80), surname varchar(80),
                               birthday date, email varchar(256));
CREATE SEQUENCE public.sessions_id_seq;
CREATE TABLE public.sessions (id bigint DEFAULT nextval('public.sessions_id_seq'),
                              start_time timestamp, customer_id int, movie_id int);
ALTER SEQUENCE public.sessions_id_seq OWNED BY public.sessions.id;
INSERT INTO public.schema_migrations VALUES (20231121, false);
"""

_WORDS = ("'{Red,Silent,Last,Dark,Lost,Blue,Golden,Broken,Hidden,Wild,"
          "River,Night,Storm,Garden,Empire,Dream,Winter,Shadow,City,Road}'::text[]")
_NAMES = ("'{Anna,Boris,Clara,David,Elena,Felix,Greta,Hugo,Irina,Jonas,"
          "Katja,Leon,Maria,Nikolai,Olga,Pavel,Rosa,Sergei,Tanja,Viktor}'::text[]")
_SURNAMES = ("'{Ivanov,Petrova,Smirnov,Kuznetsova,Popov,Sokolova,Lebedev,Kozlova,"
             "Novikov,Morozova,Volkov,Fedorova,Orlov,Pavlova,Semenov,Golubeva}'::text[]")


def counts(scale: float) -> dict[str, int]:
    return {t: max(1, round(n * scale)) for t, n in FULL.items()}


def load_statements(n: dict[str, int]) -> list[str]:
    pick = "({arr})[1 + floor(random() * array_length({arr}, 1))::int]"
    return [
        f"""INSERT INTO public.movies
            SELECT g, {pick.format(arr=_WORDS)} || ' ' || {pick.format(arr=_WORDS)} || ' ' || g,
                   1920 + floor(random() * 104)::int, 60 + floor(random() * 120)::int
            FROM generate_series(1, {n['movies']}) g""",
        f"""INSERT INTO public.customers
            SELECT g, {pick.format(arr=_NAMES)}, {pick.format(arr=_SURNAMES)},
                   date '1940-01-01' + floor(random() * 25000)::int,
                   'customer' || g || '@example.com'
            FROM generate_series(1, {n['customers']}) g""",
        # Ids written directly and the sequence moved past them: one nextval
        # per row would double the load time.
        f"""INSERT INTO public.sessions
            SELECT g, timestamp '2015-01-01' + random() * interval '3000 days',
                   1 + floor(random() * {n['customers']})::int,
                   1 + floor(random() * {n['movies']})::int
            FROM generate_series(1, {n['sessions']}) g""",
        f"SELECT setval('public.sessions_id_seq', {n['sessions']})",
        "ANALYZE public.movies, public.customers, public.sessions",
    ]


def prepare(conn, scale: float, seed: int, log) -> dict[str, int]:
    n = counts(scale)
    conn.autocommit = False
    with conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        cur.execute(SCHEMA)
        # setseed takes -1..1; the same seed gives the same rows.
        cur.execute("SELECT setseed(%s)", ((seed % 2_000_001) / 1_000_000 - 1,))
        for sql in load_statements(n):
            cur.execute(sql)
    conn.commit()
    log.info("Database prepared.", **n)
    return n
