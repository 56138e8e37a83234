"""Benchmark: the service guide's search (hall.domain.guide.search) over 5,000 matters.

Sets up a throw-away database migrated with the app (a SQLite file in a temporary
HALL_DATA_DIR, or a fresh PostgreSQL database), fills it with generated but realistic matters
of a district catalogue (department, name, guide texts, 3–10 materials each), then times
searches of several kinds — Chinese words, full pinyin, pinyin initials, material-only words,
no hit, a department filter — each done like a request does it: one transaction, the
catalogue check, the in-process index, the matters loaded with their department.

Baseline, measured in the same run on the same rows: a plain SQL `LIKE '%q%'` over the names,
the department names and the material names, loading the same rows the same way (no ranking,
no pinyin). Also: the index build (cold, and after a material edit with pypinyin's readings
cached), and the cost of the catalogue check alone.

Speed targets are reported, never asserted. Results are checked while measuring (the
expected matter is found, no hit finds nothing, a material edit is seen); a wrong result
makes the exit status 1.

    python bench/guide_search.py [--matters 5000] [--repeat 200]
    python bench/guide_search.py --database-url postgresql+psycopg://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from scratch import Postgres  # bench/scratch.py, next to this script

TARGET_MS = 20.0

DEPARTMENTS = [
    ("gaj", "区公安分局", "户口登记、迁移，居民身份证，出入境证件"),
    ("rsj", "区人力资源和社会保障局", "社会保险登记与待遇，就业创业，劳动关系"),
    ("ybj", "区医疗保障局", "医保参保、异地就医、医疗费用报销"),
    ("bdc", "区不动产登记中心", "不动产首次、转移、变更、抵押登记与查询"),
    ("scj", "区市场监督管理局", "市场主体登记，食品药品经营许可，计量与质量"),
    ("swj", "区税务局", "税务登记、发票、申报与社保费征缴"),
    ("gjj", "住房公积金管理中心", "公积金缴存、提取与贷款"),
    ("mzj", "区民政局", "婚姻登记、社会救助、养老服务、社会组织"),
    ("clj", "区残疾人联合会", "残疾人证、残疾人补贴与康复服务"),
    ("wjw", "区卫生健康委员会", "医疗机构与执业登记、母婴保健、计划生育"),
    ("jyj", "区教育局", "民办学校审批、教师资格、学籍"),
    ("jtj", "区交通运输局", "道路运输经营许可、从业资格、出租汽车"),
    ("zjj", "区住房和城乡建设局", "施工许可、商品房预售、物业与住房保障"),
    ("cgj", "区城市管理局", "户外广告设置、占道施工、城市绿化"),
    ("hbj", "区生态环境局", "环境影响评价、排污许可"),
    ("nyj", "区农业农村局", "农药兽药经营、动物防疫、农村宅基地"),
    ("wlj", "区文化和旅游局", "娱乐场所、旅行社、网吧经营许可"),
    ("tyj", "区退役军人事务局", "退役军人安置、优抚、褒扬"),
    ("sfj", "区司法局", "公证、法律援助、人民调解"),
    ("yjj", "区应急管理局", "危险化学品经营许可、安全生产"),
    ("zrj", "区自然资源局", "建设用地、规划许可、测绘"),
    ("swu", "区水务局", "取水许可、排水许可、河道管理"),
    ("swb", "区商务局", "对外贸易经营者备案、单用途预付卡"),
    ("dag", "区档案馆", "档案查阅、档案证明"),
    ("jjd", "区公安分局交通警察大队", "机动车登记、驾驶证、交通违法处理"),
]

# what matters are made of: subjects per department, actions, qualifiers (- for none), and
# the materials guides ask for


def words(text: str) -> list[str]:
    """Space-separated words (keeps the lists below short)."""
    return text.split()


SUBJECTS = {
    "gaj": words(
        "居民身份证 户口 出生 死亡注销户口 临时身份证 居住证 户籍证明 港澳通行证 护照 大陆居民往来台湾通行证"
    ),
    "rsj": words(
        "社会保障卡 城乡居民基本养老保险 职工基本养老保险 失业保险金 工伤保险 就业创业证 灵活就业人员社保 技能人员职业资格 劳动合同 退休"
    ),
    "ybj": words(
        "异地就医 医疗费用 城乡居民医保 职工医保 门诊慢特病 生育津贴 医保关系转移接续 医保卡 长期护理保险 医疗救助"
    ),
    "bdc": words(
        "不动产首次 不动产转移 不动产变更 不动产抵押 不动产注销 预告 查封 不动产登记资料 二手房 商品房"
    ),
    "scj": words(
        "个体工商户 有限责任公司 食品经营 药品零售企业 农民专业合作社 个人独资企业 合伙企业 特种设备使用 计量器具 营业执照"
    ),
    "swj": words("增值税发票 个人所得税 税务 社保费 车船税 印花税 契税 完税证明 纳税信用 出口退税"),
    "gjj": words(
        "住房公积金 公积金贷款 公积金缴存 公积金提取 公积金账户 异地贷款缴存 公积金还贷 公积金租房提取 灵活就业公积金 公积金缴存基数"
    ),
    "mzj": words(
        "结婚 离婚 婚姻 最低生活保障 特困人员 临时救助 高龄津贴 社会团体 民办非企业单位 殡葬"
    ),
    "clj": words(
        "残疾人证 残疾人两项补贴 残疾人康复 残疾人就业 辅助器具 残疾人职业培训 重度残疾人护理 残疾人机动轮椅车 盲人按摩 残疾人创业"
    ),
    "wjw": words(
        "医疗机构执业 医师执业 护士执业 出生医学证明 母婴保健技术 公共场所卫生 放射诊疗 生育服务 独生子女父母 消毒产品"
    ),
    "jyj": words(
        "民办学校 教师资格 校外培训机构 学籍 学历证明 幼儿园 教师资格证 中小学入学 转学 助学金"
    ),
    "jtj": words(
        "道路运输经营 道路运输从业人员 出租汽车 网约车 机动车维修 驾驶员培训 道路货运 客运班线 超限运输 公路占用"
    ),
    "zjj": words(
        "建筑工程施工 商品房预售 物业服务 公共租赁住房 住房租赁 建设工程竣工验收 建筑业企业资质 房屋安全鉴定 燃气经营 白蚁防治"
    ),
    "cgj": words(
        "户外广告 占道施工 城市绿化 建筑垃圾处置 临时占用城市道路 市政设施 门头招牌 夜间施工 树木砍伐 生活垃圾"
    ),
    "hbj": words(
        "环境影响评价 排污许可 危险废物 辐射安全 建设项目环保 噪声排放 固体废物 环境监测 排污口 应急预案"
    ),
    "nyj": words(
        "农药经营 兽药经营 动物防疫条件 农村宅基地 种子生产经营 渔业捕捞 农机 生猪屠宰 农作物种子 饲料生产"
    ),
    "wlj": words(
        "娱乐场所 旅行社 互联网上网服务营业场所 营业性演出 文物 艺术品经营 游艺娱乐 出版物零售 电影放映 导游"
    ),
    "tyj": words(
        "退役军人 优抚对象 烈士褒扬 伤残抚恤 退役士兵安置 军人军属 光荣牌 自主就业 优待证 伤残军人"
    ),
    "sfj": words(
        "公证 法律援助 人民调解 司法鉴定 律师执业 基层法律服务 社区矫正 安置帮教 法治宣传 仲裁"
    ),
    "yjj": words(
        "危险化学品经营 烟花爆竹经营 安全生产 非药品类易制毒化学品 生产安全事故应急预案 安全培训 特种作业 应急避难场所 工贸企业 防汛"
    ),
    "zrj": words(
        "建设用地 建设工程规划 乡村建设规划 测绘 地质灾害 土地复垦 临时用地 采矿 国有土地使用权 地名"
    ),
    "swu": words(
        "取水 排水 河道管理范围内建设 水土保持 城市供水 洪水影响评价 节约用水 水利工程 涉河建设 排水户"
    ),
    "swb": words(
        "对外贸易经营者 单用途预付卡 再生资源回收 成品油零售 拍卖 二手车交易市场 报废机动车回收 酒类流通 外商投资 直销"
    ),
    "dag": words(
        "档案查阅 婚姻档案 知青档案 学籍档案 土地档案 招工档案 档案证明 退伍档案 干部档案 企业档案"
    ),
    "jjd": words(
        "机动车 驾驶证 交通违法 机动车号牌 临时号牌 机动车检验标志 驾驶人体检 校车驾驶资格 非机动车 事故处理"
    ),
}
ACTIONS = words(
    "申领 换领 补领 设立登记 变更登记 注销登记 备案 审批 许可 核准 确认 延续 查询 证明开具 年度报告 认定 办理 迁入 迁出 提取 转移 发放 申请 受理 换发 补发 "
    "撤销 复核 信息变更 资格认定"
)
QUALIFIERS = words(
    "- - - （个人） （单位） （企业） （港澳台居民） （外国人） （首次） （补办） （委托代办） （网上办理） （异地） （老年人） （残疾人） （农村）"
)
MATERIALS = words(
    "居民身份证 户口簿 营业执照 授权委托书 受托人居民身份证 法定代表人身份证明 近期一寸免冠彩色照片 结婚证 离婚证 不动产权证书 房屋租赁合同 社会保障卡 银行卡 劳动合同 "
    "出生医学证明 医学诊断证明书 残疾人证 村（居）民委员会证明 个人承诺书 缴费凭证 增值税发票 公司章程 股东会决议 住所使用证明 健康证明 学历证书 退役证 死亡医学证明 "
    "购房合同 完税证明 银行流水 会计师事务所审计报告 重庆市居住证 居住证明 机动车行驶证 驾驶证"
)


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of seconds, in milliseconds."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1] * 1000


# ---------------------------------------------------------------- the catalogue


def generate(count: int, seed: int = 20261127) -> tuple[list[dict], dict[str, list[dict]]]:
    """`count` matters with unique names and their materials (deterministic)."""
    rng = random.Random(seed)
    matters, materials, names = [], {}, set()
    while len(matters) < count:
        department, _, _ = rng.choice(DEPARTMENTS)
        qualifier = rng.choice(QUALIFIERS).strip("-")
        name = rng.choice(SUBJECTS[department]) + rng.choice(ACTIONS) + qualifier
        if name in names:
            continue
        names.add(name)
        number = len(matters) + 1
        code = f"{department.upper()}-{number:05d}"
        days = rng.choice([0, 0, 1, 3, 5, 10, 15, 20, 30])
        matters.append(
            {
                "code": code,
                "name": name,
                "department": department,
                "kind": "immediate" if days == 0 else rng.choice(["promised", "joint", "referred"]),
                "promised_days": days,
                "statutory_days": days * 2,
                "sort_order": number,
                "legal_basis": f"《中华人民共和国行政许可法》；《{name}管理办法》第{rng.randint(3, 40)}条",
                "conditions": "申请人为本区常住人口或在本区登记的单位；材料齐全、符合法定形式。",
                "process": "申请\n受理\n审查\n决定\n送达",
                "place": f"区政务服务中心 {rng.randint(1, 3)} 楼 {rng.randint(1, 40)} 号窗口",
                "hours": "周一至周五 9:00–12:00，13:30–17:00（法定节假日除外）",
                "phone": f"0571-8{rng.randint(1000000, 9999999)}",
                "complaint": "12345 政务服务便民热线",
                "result_document": f"{name}决定书",
            }
        )
        picked = rng.sample(MATERIALS, rng.randint(2, 9))
        materials[code] = [{"name": f"《{name}申请表》", "required": True}] + [
            {"name": m, "required": rng.random() < 0.8} for m in picked
        ]
    return matters, materials


def fill(session, matters: list[dict], materials: dict[str, list[dict]]) -> None:
    """Insert the departments, matters and materials (Core inserts, in batches)."""
    from hall.models import Department, Material, Matter, utcnow

    now = utcnow()
    session.execute(
        sa.insert(Department),
        [
            {"code": c, "name": n, "functions": f, "sort_order": i}
            for i, (c, n, f) in enumerate(DEPARTMENTS)
        ],
    )
    department_ids = dict(session.execute(sa.select(Department.code, Department.id)).all())
    rows = []
    for m in matters:
        row = {k: v for k, v in m.items() if k != "department"}
        row.update(department_id=department_ids[m["department"]], updated_at=now, faq=[])
        rows.append(row)
    for start in range(0, len(rows), 1000):
        session.execute(sa.insert(Matter), rows[start : start + 1000])
    matter_ids = dict(session.execute(sa.select(Matter.code, Matter.id)).all())
    material_rows = [
        {
            "matter_id": matter_ids[code],
            "position": i,
            "name": item["name"],
            "required": item["required"],
        }
        for code, items in materials.items()
        for i, item in enumerate(items)
    ]
    for start in range(0, len(material_rows), 5000):
        session.execute(sa.insert(Material), material_rows[start : start + 5000])
    session.commit()


# ---------------------------------------------------------------- measuring


def baseline(session, query: str, limit: int = 50):
    """Plain SQL: LIKE over names, department names and material names, same rows loaded."""
    from hall.models import Department, Material, Matter

    pattern = f"%{query}%"
    statement = (
        sa.select(Matter)
        .join(Department, Department.id == Matter.department_id)
        .where(
            Matter.active.is_(True),
            sa.or_(
                Matter.name.like(pattern),
                Department.name.like(pattern),
                sa.exists().where(Material.matter_id == Matter.id, Material.name.like(pattern)),
            ),
        )
        .options(sa.orm.joinedload(Matter.department))
        .order_by(Matter.sort_order, Matter.code)
        .limit(limit)
    )
    return list(session.scalars(statement))


def timed(session, function, repeat: int) -> tuple[list[float], list]:
    """Seconds of each call, one transaction each (as a request has), and the last result."""
    times, result = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        session.rollback()
        times.append(time.perf_counter() - start)
    return times, result


QUERIES = [
    # (kind, query, department filter, a matter name that must be among the results or None)
    ("Chinese word (name)", "户口", None, "户口"),
    ("Chinese word (name)", "公积金", None, "公积金"),
    ("Chinese word (material only)", "结婚证", None, None),
    ("full pinyin", "hukou", None, "户口"),
    ("full pinyin with spaces", "gong ji jin", None, "公积金"),
    ("pinyin initials", "sbk", None, "社会保障卡"),
    ("pinyin initials", "bdc", None, "不动产"),
    ("pinyin initials, 1 letter", "j", None, None),
    ("department filter + initials", "dj", "scj", None),
    ("no hit (pinyin)", "xqzvk", None, "-"),
    ("no hit (Chinese)", "火星移民", None, "-"),
]


def run(url: str, count: int, repeat: int) -> tuple[list[str], int]:
    from flask_migrate import upgrade

    from hall import create_app
    from hall.domain import guide
    from hall.extensions import db
    from hall.models import Material, Matter

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    failures = 0
    with app.app_context():
        log("migrating")
        upgrade(directory=app.extensions["migrate"].directory)
        log(f"generating and inserting {count} matters")
        matters, materials = generate(count)
        fill(db.session, matters, materials)
        material_count = sum(len(v) for v in materials.values())

        start = time.perf_counter()
        index = guide.current_index(db.session)
        cold = time.perf_counter() - start
        db.session.rollback()
        size = index.size

        check_times, _ = timed(db.session, lambda: guide._signature(db.session), repeat)
        read_times, _ = timed(db.session, lambda: guide._read_signature(db.session), repeat)

        rows = []
        for kind, query, department, expect in QUERIES:
            guide.search(db.session, query, department=department)  # warm
            db.session.rollback()
            hall_times, found = timed(
                db.session,
                lambda q=query, d=department: guide.search(db.session, q, department=d),
                repeat,
            )
            names = [m.name for m in found]
            if department:
                ok = all(m.department.code == department for m in found) and bool(found)
            elif expect == "-":
                ok = not found
            elif expect:
                ok = bool(names) and expect in names[0]
            else:
                ok = bool(found)
            failures += not ok
            base_times, _ = timed(db.session, lambda q=query: baseline(db.session, q), repeat)
            rows.append((kind, query, department, len(found), ok, hall_times, base_times))

        # a material edit: the next search sees it (rebuild with pypinyin's readings cached)
        matter = db.session.scalar(sa.select(Matter).order_by(Matter.id.desc()).limit(1))
        matter.materials.append(Material(name="量子纠缠态证明", position=99))
        db.session.commit()
        start = time.perf_counter()
        found = guide.search(db.session, "量子纠缠")
        warm = time.perf_counter() - start
        db.session.rollback()
        seen = [m.code for m in found] == [matter.code]
        failures += not seen
        db.session.remove()
        db.engine.dispose()

    lines = [
        f"## hall bench: guide search — {sa.engine.make_url(url).get_backend_name()}",
        "",
        f"{count} matters, {material_count} materials, {len(DEPARTMENTS)} departments · "
        f"{repeat} searches per query, each in its own transaction · {os.cpu_count()} CPUs · "
        f"load average {_load()} · Python {platform.python_version()}",
        "",
        "| search | query | results | hall p50 / p99 (ms) | SQL LIKE p50 / p99 (ms) "
        f"| hall/LIKE (p50) | target p99 < {TARGET_MS:g} ms | right results |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for kind, query, department, n, ok, hall_times, base_times in rows:
        h50, h99 = percentile(hall_times, 50), percentile(hall_times, 99)
        b50, b99 = percentile(base_times, 50), percentile(base_times, 99)
        shown = f"「{query}」" + (f" in {department}" if department else "")
        lines.append(
            f"| {kind} | {shown} | {n} | {h50:.2f} / {h99:.2f} | {b50:.2f} / {b99:.2f} "
            f"| {h50 / b50:.2f} | {'yes' if h99 < TARGET_MS else '**no**'} "
            f"| {'yes' if ok else '**NO**'} |"
        )
    c50, c99 = percentile(check_times, 50), percentile(check_times, 99)
    r50, r99 = percentile(read_times, 50), percentile(read_times, 99)
    lines += [
        "",
        "| index | value |",
        "|---|---:|",
        f"| build, cold (pypinyin for every text) | {cold * 1000:.0f} ms |",
        f"| first search after a material edit (rebuild, readings cached) | {warm * 1000:.0f} ms |",
        f"| the edit seen by that search | {'yes' if seen else '**NO**'} |",
        f"| catalogue check per search, p50 / p99 | {c50:.2f} / {c99:.2f} ms |",
        "| &nbsp;&nbsp;of which the full read `count(*), max(updated_at), sum(updated_at)` "
        f"(SQLite: only after a change), p50 / p99 | {r50:.2f} / {r99:.2f} ms |",
        f"| index strings | {size / 1e6:.1f} M characters |",
    ]
    return lines, failures


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Time the service guide's search.")
    parser.add_argument("--matters", type=int, default=5000, help="matters to generate")
    parser.add_argument("--repeat", type=int, default=200, help="searches per query")
    parser.add_argument("--database-url", help="PostgreSQL server to create a database on")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="hall-bench-guide-"))
    os.environ["HALL_DATA_DIR"] = str(folder)
    for var in ("HALL_DATABASE_URL", "HALL_REDIS_URL"):
        os.environ.pop(var, None)
    postgres = Postgres(args.database_url) if args.database_url else None
    try:
        url = postgres.create() if postgres else f"sqlite:///{folder / 'hall.sqlite3'}"
        lines, failures = run(url, args.matters, args.repeat)
    finally:
        if postgres:
            postgres.drop()
        shutil.rmtree(folder, ignore_errors=True)
    print("\n".join(lines))
    if failures:
        log(f"{failures} wrong result(s), see the table")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
