"""`python manage.py seed_demo`: the demo regional network, in Japanese, for a first look.

The data is fixed (no randomness) and the command is re-runnable: every row is found by its
natural key (organization and network name, username, patient name and date of birth, a record
item's name) and brought back to the demo values, so running it twice leaves the same rows.

It writes with the models directly, in one transaction, and keeps the invariants that
`patients.services` keeps: every patient has exactly one primary and one secondary physician,
both physicians and from different clinics; consent is recorded by the primary physician; every
record item has its `RecordChange` history; wishes are append-only (a new version is added only
when the newest one differs from the demo's).

Every demo login shares the password ``kizuna-demo``. It is demo data, printed on purpose.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.hashers import check_password, make_password
from django.core.management.base import BaseCommand
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from messaging.models import Message, MessageKind, Priority, ReadState, Thread, ThreadKind
from patients.models import (
    Allergy,
    CareLevel,
    CareRole,
    CareTeamMember,
    CareWish,
    Consent,
    EmergencyContact,
    MedicalDevice,
    Medication,
    Patient,
    PatientStatus,
    Problem,
    RecordChange,
    RecordItem,
    Sex,
    WishKind,
)
from teams.models import (
    Capability,
    CapabilityCode,
    Membership,
    Network,
    Organization,
    OrganizationKind,
    PhysicianRegistration,
    Profession,
    User,
)
from teams.second_factor import DEMO

DEMO_PASSWORD = "kizuna-demo"  # noqa: S105 (demo data, printed for logging in)
NETWORK_NAME = "中央区在宅医療ネットワーク"
EMAIL_DOMAIN = "kizuna-demo.example"
# Care-team places start on fixed dates, so a second run on another day changes nothing.
TEAM_START = dt.date(2024, 4, 1)

C = CapabilityCode

# fmt: off
# The data tables keep one entry per line or block, as a reader scans them.

# key: (name, kana, kind, area, postal code, address, phone, capabilities, notes)
ORGANIZATIONS: dict[str, tuple[str, str, str, str, str, str, str, list[str], str]] = {
    "lead": (
        "中央在宅クリニック",
        "ちゅうおうざいたくくりにっく",
        OrganizationKind.CLINIC,
        "日本橋",
        "103-0027",
        "東京都中央区日本橋2-1-1",
        "03-3201-1001",
        [C.HOME_VISITS, C.RESPONSE_24H, C.PALLIATIVE_CARE, C.END_OF_LIFE, C.HOME_OXYGEN,
         C.IV_THERAPY, C.DEMENTIA],
        "在宅療養支援診療所(機能強化型)。ネットワークの主幹診療所。",
    ),
    "sakura": (
        "さくら内科クリニック",
        "さくらないかくくりにっく",
        OrganizationKind.CLINIC,
        "月島",
        "104-0052",
        "東京都中央区月島3-2-5",
        "03-3531-2002",
        [C.HOME_VISITS, C.DEMENTIA, C.HOME_OXYGEN],
        "内科・在宅診療。副主治医として連携。",
    ),
    "tsubaki": (
        "つばき診療所",
        "つばきしんりょうじょ",
        OrganizationKind.CLINIC,
        "勝どき",
        "104-0054",
        "東京都中央区勝どき1-8-3",
        "03-3533-3003",
        [C.HOME_VISITS, C.TUBE_FEEDING, C.END_OF_LIFE],
        "",
    ),
    "kaede": (
        "かえで在宅診療所",
        "かえでざいたくしんりょうじょ",
        OrganizationKind.CLINIC,
        "晴海",
        "104-0053",
        "東京都中央区晴海2-5-20",
        "03-3534-4004",
        [C.HOME_VISITS, C.RESPONSE_24H, C.PEDIATRIC_HOME_CARE, C.VENTILATOR],
        "小児在宅・人工呼吸器管理に対応。",
    ),
    "hospital": (
        "中央区総合病院",
        "ちゅうおうくそうごうびょういん",
        OrganizationKind.HOSPITAL,
        "築地",
        "104-0045",
        "東京都中央区築地4-1-10",
        "03-3541-5005",
        [C.EMERGENCY_ADMISSION, C.PALLIATIVE_CARE, C.VENTILATOR, C.REHABILITATION,
         C.IV_THERAPY],
        "後方支援病院。夜間・休日の緊急入院を受け入れる。緩和ケア病棟あり。",
    ),
    "himawari": (
        "ひまわり訪問看護ステーション",
        "ひまわりほうもんかんごすてーしょん",
        OrganizationKind.NURSING_STATION,
        "日本橋",
        "103-0013",
        "東京都中央区日本橋人形町1-3-8",
        "03-3661-6006",
        [C.HOME_VISITS, C.RESPONSE_24H, C.END_OF_LIFE, C.TUBE_FEEDING, C.REHABILITATION,
         C.IV_THERAPY],
        "",
    ),
    "aoi": (
        "あおい訪問看護ステーション",
        "あおいほうもんかんごすてーしょん",
        OrganizationKind.NURSING_STATION,
        "月島",
        "104-0052",
        "東京都中央区月島1-14-7",
        "03-3532-7007",
        [C.HOME_VISITS, C.RESPONSE_24H, C.VENTILATOR, C.PEDIATRIC_HOME_CARE, C.REHABILITATION],
        "",
    ),
    "pharmacy": (
        "みなと調剤薬局",
        "みなとちょうざいやっきょく",
        OrganizationKind.PHARMACY,
        "築地",
        "104-0045",
        "東京都中央区築地2-10-6",
        "03-3542-8008",
        [C.ASEPTIC_COMPOUNDING, C.HOME_VISITS, C.RESPONSE_24H],
        "無菌調剤室あり。麻薬・中心静脈栄養の調剤に対応。",
    ),
    "cm": (
        "中央区ケアプランセンター",
        "ちゅうおうくけあぷらんせんたー",
        OrganizationKind.CARE_MANAGEMENT,
        "日本橋",
        "103-0004",
        "東京都中央区東日本橋3-4-2",
        "03-3663-9009",
        [C.DEMENTIA],
        "居宅介護支援事業所(訪問介護事業所併設)。",
    ),
}

P = Profession
# username: (氏名, ふりがな, profession, organization key, 役職, organization administrator)
PEOPLE: dict[str, tuple[str, str, str, str, str, bool]] = {
    "dr.yamada": ("山田 太郎", "やまだ たろう", P.PHYSICIAN, "lead", "院長", False),
    "dr.kobayashi": ("小林 直樹", "こばやし なおき", P.PHYSICIAN, "lead", "副院長", False),
    "nurse.ito": ("伊藤 恵", "いとう めぐみ", P.NURSE, "lead", "看護師", False),
    "admin.kato": ("加藤 由美", "かとう ゆみ", P.CLERK, "lead", "事務長", True),
    "coord.tanaka": ("田中 陽子", "たなか ようこ", P.SOCIAL_WORKER, "lead", "地域連携室", False),
    "dr.sato": ("佐藤 花子", "さとう はなこ", P.PHYSICIAN, "sakura", "院長", False),
    "dr.takahashi": ("高橋 健一", "たかはし けんいち", P.PHYSICIAN, "tsubaki", "院長", False),
    "dr.watanabe": ("渡辺 修", "わたなべ おさむ", P.PHYSICIAN, "kaede", "院長", False),
    "dr.nakamura": ("中村 誠", "なかむら まこと", P.PHYSICIAN, "hospital",
                    "地域医療連携部長", False),
    "nurse.yamamoto": ("山本 千尋", "やまもと ちひろ", P.NURSE, "hospital",
                       "退院支援看護師", False),
    "msw.inoue": ("井上 美紀", "いのうえ みき", P.SOCIAL_WORKER, "hospital",
                  "医療ソーシャルワーカー", False),
    "dentist.kimura": ("木村 聡", "きむら さとし", P.DENTIST, "hospital", "歯科口腔外科", False),
    "dietitian.hayashi": ("林 さやか", "はやし さやか", P.DIETITIAN, "hospital",
                          "栄養管理室", False),
    "nurse.suzuki": ("鈴木 恵子", "すずき けいこ", P.NURSE, "himawari", "管理者", False),
    "nurse.saito": ("斎藤 葵", "さいとう あおい", P.NURSE, "himawari", "看護師", False),
    "pt.shimizu": ("清水 大輔", "しみず だいすけ", P.PHYSICAL_THERAPIST, "himawari",
                   "理学療法士", False),
    "ot.yamaguchi": ("山口 亜美", "やまぐち あみ", P.OCCUPATIONAL_THERAPIST, "himawari",
                     "作業療法士", False),
    "nurse.matsumoto": ("松本 奈々", "まつもと なな", P.NURSE, "aoi", "管理者", False),
    "nurse.ishikawa": ("石川 舞", "いしかわ まい", P.NURSE, "aoi", "看護師", False),
    "st.mori": ("森 拓也", "もり たくや", P.SPEECH_THERAPIST, "aoi", "言語聴覚士", False),
    "pharm.aoki": ("青木 翔", "あおき しょう", P.PHARMACIST, "pharmacy", "管理薬剤師", False),
    "pharm.fujita": ("藤田 麻衣", "ふじた まい", P.PHARMACIST, "pharmacy", "薬剤師", False),
    "cm.okada": ("岡田 和子", "おかだ かずこ", P.CARE_MANAGER, "cm", "主任介護支援専門員", False),
    "cm.hasegawa": ("長谷川 剛", "はせがわ つよし", P.CARE_MANAGER, "cm", "介護支援専門員", False),
    "cw.murakami": ("村上 幸子", "むらかみ さちこ", P.CARE_WORKER, "cm", "訪問介護員", False),
}

COORDINATORS = ["coord.tanaka"]

# The logins worth trying first, printed at the end (deploy/dev/run.py prints the same list).
KEY_LOGINS: list[tuple[str, str]] = [
    ("dr.yamada", "主治医(中央在宅クリニック)"),
    ("dr.sato", "副主治医(さくら内科クリニック)"),
    ("nurse.suzuki", "訪問看護師(ひまわり訪問看護ステーション)"),
    ("pharm.aoki", "薬剤師(みなと調剤薬局)"),
    ("coord.tanaka", "ネットワークのコーディネーター"),
    ("admin.kato", "組織管理者(中央在宅クリニック、監査ログ)"),
]

# Primary and secondary physician of each patient, in turn: always from two different clinics.
PHYSICIAN_PAIRS = [
    ("dr.yamada", "dr.sato"),
    ("dr.kobayashi", "dr.takahashi"),
    ("dr.sato", "dr.yamada"),
    ("dr.takahashi", "dr.watanabe"),
    ("dr.watanabe", "dr.kobayashi"),
]
NURSES = ["nurse.suzuki", "nurse.matsumoto", "nurse.saito", "nurse.ishikawa"]
PHARMACISTS = ["pharm.aoki", "pharm.fujita"]
CARE_MANAGERS = ["cm.okada", "cm.hasegawa"]


@dataclass(frozen=True)
class DemoPatient:
    name: str
    kana: str
    born: dt.date
    sex: str
    care_level: str
    problems: list[tuple[str, dt.date | None]]
    medications: list[tuple[str, str]] = field(default_factory=list)
    allergies: list[tuple[str, str, str]] = field(default_factory=list)
    devices: list[tuple[str, dt.date | None]] = field(default_factory=list)
    # (given name, relationship); the first one is the key person (キーパーソン)
    family: list[tuple[str, str]] = field(default_factory=list)
    green: str = ""
    yellow: str = ""
    status: str = PatientStatus.AT_HOME
    swallowing: bool = False
    nutrition: bool = False


D = dt.date
L = CareLevel
F, M = Sex.FEMALE, Sex.MALE
HOME_O2 = "在宅酸素濃縮装置"
FOLEY = "膀胱留置カテーテル"

PATIENTS: list[DemoPatient] = [
    DemoPatient(
        "小林 ハル", "こばやし はる", D(1935, 4, 12), F, L.CARE_4,
        [("慢性心不全", D(2019, 5, 1)), ("2型糖尿病", D(2008, 1, 1))],
        [("フロセミド錠20mg", "1日1回 朝食後"), ("アジルサルタン錠20mg", "1日1回 朝食後"),
         ("メトホルミン塩酸塩錠250mg", "1日2回 朝夕食後")],
        [("ペニシリン系抗菌薬", "全身の発疹", "moderate")],
        [(HOME_O2, D(2023, 6, 1))],
        [("一郎", "長男"), ("美香", "長男の妻")],
        green="住み慣れた自宅で最期を迎えたい",
        yellow="中央区総合病院へ入院を希望",
        nutrition=True,
    ),
    DemoPatient(
        "中島 正雄", "なかじま まさお", D(1938, 9, 3), M, L.CARE_5,
        [("筋萎縮性側索硬化症(ALS)", D(2020, 3, 1)), ("嚥下障害", D(2023, 10, 1))],
        [("リルゾール錠50mg", "1日2回 12時間ごと")],
        [],
        [("人工呼吸器(NPPV)", D(2024, 1, 10)), ("胃ろう(PEG)", D(2023, 11, 20))],
        [("京子", "妻"), ("健太", "長男")],
        green="気管切開はせず、自宅で過ごしたい",
        yellow="呼吸状態悪化時は中央区総合病院",
        swallowing=True,
        nutrition=True,
    ),
    DemoPatient(
        "石井 トメ", "いしい とめ", D(1929, 1, 20), F, L.CARE_3,
        [("アルツハイマー型認知症", D(2018, 7, 1)), ("骨粗鬆症", None)],
        [("ドネペジル塩酸塩OD錠5mg", "1日1回 朝食後"),
         ("エルデカルシトールカプセル0.75μg", "1日1回")],
        [],
        [],
        [("健二", "長男")],
        green="自宅で家族と過ごしたい",
    ),
    DemoPatient(
        "前田 茂", "まえだ しげる", D(1942, 6, 30), M, L.CARE_2,
        [("膵臓がん(肝転移)", D(2024, 9, 1)), ("がん性疼痛", D(2024, 11, 1))],
        [("オキシコドン塩酸塩徐放錠10mg", "1日2回 12時間ごと"),
         ("オキシコドン塩酸塩散2.5mg", "疼痛時 頓用"),
         ("酸化マグネシウム錠330mg", "1日3回 毎食後")],
        [("ヨード造影剤", "蕁麻疹", "moderate")],
        [("中心静脈ポート", D(2024, 12, 5))],
        [("洋子", "妻"), ("大輔", "長男")],
        green="自宅での看取りを希望",
        yellow="中央区総合病院 緩和ケア病棟",
        nutrition=True,
    ),
    DemoPatient(
        "藤井 キヨ", "ふじい きよ", D(1933, 11, 8), F, L.CARE_4,
        [("誤嚥性肺炎", D(2025, 1, 15)), ("脳梗塞後遺症(右片麻痺)", D(2016, 2, 1))],
        [("クロピドグレル錠75mg", "1日1回 朝食後")],
        [],
        [(FOLEY, D(2024, 8, 1))],
        [("幸子", "長女")],
        yellow="中央区総合病院",
        status=PatientStatus.HOSPITALIZED,
        swallowing=True,
    ),
    DemoPatient(
        "岡本 勇", "おかもと いさむ", D(1940, 2, 14), M, L.CARE_1,
        [("慢性閉塞性肺疾患(COPD)", D(2015, 4, 1)), ("高血圧症", None)],
        [("チオトロピウム吸入用カプセル", "1日1回 1吸入"), ("アムロジピン錠5mg", "1日1回 朝食後")],
        [],
        [(HOME_O2, D(2022, 12, 1))],
        [("節子", "妻")],
        yellow="中央区総合病院",
    ),
    DemoPatient(
        "松田 フミ", "まつだ ふみ", D(1931, 7, 25), F, L.CARE_5,
        [("老衰", None), ("褥瘡(仙骨部 DESIGN-R d2)", D(2025, 2, 1))],
        [("ジメチルイソプロピルアズレン軟膏", "1日1回 処置時")],
        [("絆創膏(アクリル系粘着剤)", "接触皮膚炎", "mild")],
        [("エアマットレス", D(2024, 5, 1))],
        [("真理子", "次女")],
        green="自宅で穏やかに過ごしたい",
    ),
    DemoPatient(
        "中川 清", "なかがわ きよし", D(1945, 10, 2), M, L.CARE_3,
        [("パーキンソン病", D(2017, 9, 1)), ("起立性低血圧", None)],
        [("レボドパ・カルビドパ配合錠100mg", "1日3回 毎食後")],
        [],
        [],
        [("早苗", "妻"), ("亮", "長男")],
        swallowing=True,
    ),
    DemoPatient(
        "原田 ミツ", "はらだ みつ", D(1936, 3, 17), F, L.SUPPORT_2,
        [("変形性膝関節症", None), ("高血圧症", None)],
        [("アムロジピン錠2.5mg", "1日1回 朝食後")],
        [("NSAIDs(ロキソプロフェン)", "胃潰瘍の既往", "moderate")],
        [],
        [("修", "長男")],
    ),
    DemoPatient(
        "小野 博", "おの ひろし", D(1948, 12, 1), M, L.CARE_2,
        [("肺がん(骨転移)", D(2024, 6, 1))],
        [("アセトアミノフェン錠500mg", "1日3回 毎食後"), ("デノスマブ皮下注", "4週に1回")],
        [],
        [(HOME_O2, D(2025, 1, 20))],
        [("恵美", "妻")],
        green="できる限り自宅で過ごしたい",
        yellow="中央区総合病院 緩和ケア病棟",
    ),
    DemoPatient(
        "田村 シズ", "たむら しず", D(1927, 5, 5), F, L.CARE_4,
        [("慢性心不全", D(2020, 1, 1)), ("認知症", D(2019, 1, 1))],
        [("トラセミド錠4mg", "1日1回 朝食後")],
        [],
        [],
        [("弘", "長男"), ("久美子", "長男の妻")],
        green="自宅",
        yellow="中央区総合病院",
    ),
    DemoPatient(
        "竹内 義男", "たけうち よしお", D(1939, 8, 22), M, L.CARE_3,
        [("慢性腎臓病(ステージ4)", D(2021, 3, 1)), ("2型糖尿病", D(2005, 1, 1))],
        [("リナグリプチン錠5mg", "1日1回 朝食後"), ("球形吸着炭細粒", "1日3回 食間")],
        [("ヨード", "呼吸困難", "severe")],
        [],
        [("典子", "妻")],
        nutrition=True,
    ),
    DemoPatient(
        "金子 ハナ", "かねこ はな", D(1932, 9, 9), F, L.CARE_2,
        [("心房細動", D(2018, 4, 1)), ("高血圧症", None)],
        [("アピキサバン錠2.5mg", "1日2回 朝夕食後"), ("ビソプロロールフマル酸塩錠2.5mg", "1日1回")],
        [],
        [],
        [("隆", "長男")],
        yellow="中央区総合病院",
    ),
    DemoPatient(
        "和田 実", "わだ みのる", D(1943, 4, 4), M, L.CARE_4,
        [("大腿骨頸部骨折(術後)", D(2025, 2, 10)), ("血管性認知症", D(2020, 6, 1))],
        [("エドキサバン錠30mg", "1日1回")],
        [],
        [],
        [("和子", "妻")],
        status=PatientStatus.HOSPITALIZED,
    ),
    DemoPatient(
        "坂本 ヨシ", "さかもと よし", D(1930, 12, 24), F, L.CARE_5,
        [("脳出血後遺症", D(2021, 11, 1)), ("嚥下障害", D(2021, 12, 1))],
        [("経腸栄養剤(エンシュア・H)", "1日3回 経管")],
        [],
        [("経鼻胃管", D(2022, 1, 15))],
        [("浩二", "長男")],
        green="自宅で家族に囲まれて",
        swallowing=True,
        nutrition=True,
    ),
    DemoPatient(
        "西村 和夫", "にしむら かずお", D(1946, 1, 11), M, L.CARE_1,
        [("前立腺がん", D(2022, 5, 1))],
        [("ビカルタミド錠80mg", "1日1回")],
        [],
        [(FOLEY, D(2024, 10, 1))],
        [("直美", "長女")],
        yellow="中央区総合病院",
    ),
    DemoPatient(
        "福田 チヨ", "ふくだ ちよ", D(1934, 6, 6), F, L.CARE_3,
        [("慢性心不全", D(2021, 8, 1))],
        [("スピロノラクトン錠25mg", "1日1回 朝食後")],
        [("鶏卵", "口周囲の発赤", "mild")],
        [],
        [("明", "長男"), ("由紀", "孫")],
        green="自宅",
    ),
    DemoPatient(
        "太田 進", "おおた すすむ", D(1950, 7, 7), M, L.PENDING,
        [("頸髄損傷", D(2024, 11, 3)), ("神経因性膀胱", D(2024, 12, 1))],
        [("バクロフェン錠5mg", "1日3回 毎食後")],
        [],
        [(FOLEY, D(2025, 1, 5)), ("電動車いす", D(2025, 2, 1))],
        [("純子", "妻")],
    ),
    DemoPatient(
        "三浦 タケ", "みうら たけ", D(1928, 2, 29), F, L.CARE_4,
        [("老衰", None), ("嚥下障害", D(2024, 9, 1))],
        [],
        [],
        [],
        [("武", "長男")],
        green="自宅で自然な最期を",
        swallowing=True,
    ),
    DemoPatient(
        "藤原 昭", "ふじわら あきら", D(1937, 10, 10), M, L.CARE_2,
        [("大腸がん術後", D(2023, 3, 1))],
        [("酸化マグネシウム錠250mg", "1日2回")],
        [],
        [("人工肛門(ストーマ)", D(2023, 3, 20))],
        [("芳江", "妻")],
        yellow="中央区総合病院",
    ),
]


# `RecordChange.item_type` of each record list, as `patients.models.RECORD_KINDS` names them.
ITEM_TYPES: dict[type[RecordItem], str] = {
    Problem: "problems",
    Medication: "medications",
    Allergy: "allergies",
    MedicalDevice: "devices",
    EmergencyContact: "contacts",
}


def _snapshot(item: RecordItem) -> dict[str, Any]:
    # The same shape as the snapshots `patients.services` writes: the item's fields as JSON.
    data = model_to_dict(item)
    data["id"] = item.pk
    result: dict[str, Any] = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    return result

# fmt: on


def _phone(patient_index: int, n: int) -> str:
    return f"090-{1100 + patient_index:04d}-{2000 + n:04d}"


@dataclass
class Seeder:
    """Writes the demo network. Call `run()` inside `transaction.atomic`."""

    orgs: dict[str, Organization] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    user_org: dict[str, Organization] = field(default_factory=dict)
    _password_hash: str = ""
    _hash_is_demo: dict[str, bool] = field(default_factory=dict)

    def run(self) -> list[Patient]:
        self._organizations()
        self._people()
        self._network()
        self._home_care()
        return [self._patient(i, demo) for i, demo in enumerate(PATIENTS)]

    # --- who --------------------------------------------------------------------------

    def _organizations(self) -> None:
        capabilities = {c.code: c for c in Capability.objects.all()}
        for key, (
            name,
            kana,
            kind,
            area,
            postal,
            address,
            phone,
            caps,
            notes,
        ) in ORGANIZATIONS.items():
            org, _ = Organization.objects.update_or_create(
                name=name,
                defaults={
                    "name_kana": kana,
                    "kind": kind,
                    "area": area,
                    "postal_code": postal,
                    "address": address,
                    "phone": phone,
                    "fax": phone[:-1] + "9",
                    "notes": notes,
                },
            )
            # Capability rows come from a data migration; create any missing one the same way.
            wanted = [
                capabilities.get(code) or Capability.objects.get_or_create(code=code)[0]
                for code in caps
            ]
            org.capabilities.set(wanted)
            self.orgs[key] = org

    def _is_demo_password(self, encoded: str) -> bool:
        # Checking a hash costs an Argon2 run; the users share a few hashes, so check each once.
        if encoded not in self._hash_is_demo:
            self._hash_is_demo[encoded] = check_password(DEMO_PASSWORD, encoded)
        return self._hash_is_demo[encoded]

    def _people(self) -> None:
        for username, (name, kana, profession, org_key, title, is_admin) in PEOPLE.items():
            family, given = name.split(" ", 1)
            user, _ = User.objects.update_or_create(
                username=username,
                defaults={
                    "display_name": name,
                    "name_kana": kana,
                    "last_name": family,
                    "first_name": given,
                    "profession": profession,
                    "email": f"{username}@{EMAIL_DOMAIN}",
                    "phone": "",
                    "is_active": True,
                },
            )
            if not user.password or not self._is_demo_password(user.password):
                # One hash for all demo users: hashing 25 times would cost seconds for a
                # password that is public anyway.
                if not self._password_hash:
                    self._password_hash = make_password(DEMO_PASSWORD)
                user.password = self._password_hash
                user.save(update_fields=["password"])
            org = self.orgs[org_key]
            Membership.objects.update_or_create(
                user=user,
                organization=org,
                defaults={"title": title, "is_admin": is_admin, "is_active": True},
            )
            self.users[username] = user
            self.user_org[username] = org
            demo_authenticator(user)

    def _network(self) -> None:
        network, _ = Network.objects.update_or_create(
            name=NETWORK_NAME, defaults={"area": "東京都中央区"}
        )
        network.organizations.set(self.orgs.values())
        network.coordinators.set([self.users[u] for u in COORDINATORS])

    def _home_care(self) -> None:
        """The clinics' physicians registered for home-care referrals (docs/referrals.md):
        the ward and their clinic's town, their clinic's capabilities."""
        for username, (_n, _k, profession, _o, _t, _a) in PEOPLE.items():
            org = self.user_org[username]
            if profession != Profession.PHYSICIAN or org.kind != OrganizationKind.CLINIC:
                continue
            registration, _ = PhysicianRegistration.objects.update_or_create(
                user=self.users[username],
                defaults={"areas": ["中央区", org.area], "max_load": 30, "accepting": True},
            )
            registration.capabilities.set(org.capabilities.all())

    # --- whom -------------------------------------------------------------------------

    def _team(self, i: int, demo: DemoPatient) -> list[tuple[str, str]]:
        """(username, role) of the patient's care team, primary and secondary first."""
        primary, secondary = PHYSICIAN_PAIRS[i % len(PHYSICIAN_PAIRS)]
        team: list[tuple[str, str]] = [
            (primary, CareRole.PRIMARY_PHYSICIAN),
            (secondary, CareRole.SECONDARY_PHYSICIAN),
            (NURSES[i % len(NURSES)], CareRole.VISITING_NURSE),
            (PHARMACISTS[i % len(PHARMACISTS)], CareRole.PHARMACIST),
            (CARE_MANAGERS[i % len(CARE_MANAGERS)], CareRole.CARE_MANAGER),
        ]
        if i % 3 == 0:
            team.append(("pt.shimizu", CareRole.THERAPIST))
        if i % 5 == 1:
            team.append(("ot.yamaguchi", CareRole.THERAPIST))
        if demo.swallowing:
            team.append(("st.mori", CareRole.THERAPIST))
            team.append(("dentist.kimura", CareRole.OTHER))
        if demo.nutrition:
            team.append(("dietitian.hayashi", CareRole.OTHER))
        if i % 4 == 2:
            team.append(("cw.murakami", CareRole.CARE_WORKER))
        if demo.status == PatientStatus.HOSPITALIZED:
            team.append(("nurse.yamamoto", CareRole.HOSPITAL_LIAISON))
            team.append(("msw.inoue", CareRole.HOSPITAL_LIAISON))
        return team

    def _patient(self, i: int, demo: DemoPatient) -> Patient:
        team = self._team(i, demo)
        primary = self.users[team[0][0]]
        nurse = self.users[team[2][0]]
        area = self.user_org[team[0][0]].area
        patient, _ = Patient.objects.update_or_create(
            name=demo.name,
            date_of_birth=demo.born,
            defaults={
                "name_kana": demo.kana,
                "sex": demo.sex,
                "care_level": demo.care_level,
                "status": demo.status,
                "managing_organization": self.user_org[team[0][0]],
                "address": f"東京都中央区{area}{i % 4 + 1}-{i + 3}-{i % 7 + 1}",
                "phone": f"03-{5200 + i:04d}-{3100 + i:04d}",
            },
        )
        consent, _ = Consent.objects.update_or_create(
            patient=patient,
            withdrawn_at=None,
            defaults={"recorded_by": primary, "note": "本人および家族より口頭・書面で同意取得"},
        )
        # The consent covers the organization of everyone on the demo team.
        consent.organizations.add(
            patient.managing_organization, *{self.user_org[u] for u, _ in team}
        )
        start = TEAM_START + dt.timedelta(days=7 * i)
        for username, role in team:
            user = self.users[username]
            defaults = {"organization": self.user_org[username], "start_date": start}
            if role in (CareRole.PRIMARY_PHYSICIAN, CareRole.SECONDARY_PHYSICIAN):
                # At most one open-ended primary (and secondary): keyed on the role alone.
                CareTeamMember.objects.update_or_create(
                    patient=patient, role=role, end_date=None, defaults={"user": user, **defaults}
                )
            else:
                CareTeamMember.objects.update_or_create(
                    patient=patient, user=user, role=role, end_date=None, defaults=defaults
                )
        self._record(patient, primary, nurse, i, demo)
        self._wishes(patient, primary, demo)
        # Every patient has one contact-book thread (as patient registration gives them).
        thread, _ = Thread.objects.get_or_create(
            kind=ThreadKind.CONTACT_BOOK, patient=patient, defaults={"created_by": primary}
        )
        self._conversation(thread, [self.users[u] for u, _ in team[:4]], i)
        return patient

    def _conversation(self, thread: Thread, people: list[User], i: int) -> None:
        """A short demo exchange in the contact book, written once (a thread with messages
        is left as it is, so a re-run never duplicates or reorders anything)."""
        if thread.last_seq:
            return
        primary, secondary, nurse, pharmacist = people
        lines = [
            (
                nurse,
                MessageKind.VITALS,
                Priority.ROUTINE,
                f"本日訪問。BP {118 + i % 20}/{70 + i % 9}、P {72 + i % 15}、SpO2 {95 + i % 4}%、"
                "KT 36.6℃。食事は半量程度摂取。",
            ),
            (
                pharmacist,
                MessageKind.NOTE,
                Priority.ROUTINE,
                "定期薬を本日配薬しました。残薬の確認済みです。",
            ),
            (
                primary,
                MessageKind.NOTE,
                Priority.ROUTINE,
                f"@{nurse.username} ありがとうございます。水分摂取の声かけを継続してください。",
            ),
            (
                secondary,
                MessageKind.NOTE,
                Priority.ROUTINE,
                "承知しました。週末の対応はこちらで引き受けます。",
            ),
        ]
        now = timezone.now()
        for seq, (author, kind, priority, body) in enumerate(lines, start=1):
            message = Message.objects.create(
                thread=thread,
                seq=seq,
                author=author,
                client_id=uuid.uuid5(uuid.NAMESPACE_URL, f"kizuna-demo:{thread.pk}:{seq}"),
                body=body,
                kind=kind,
                priority=priority,
            )
            if body.startswith("@"):
                message.mentions.add(nurse)
            ReadState.objects.update_or_create(
                user=author, thread=thread, defaults={"last_read_seq": seq}
            )
        thread.last_seq = len(lines)
        thread.last_message_at = now
        thread.save(update_fields=["last_seq", "last_message_at"])

    def _record(
        self, patient: Patient, primary: User, nurse: User, i: int, demo: DemoPatient
    ) -> None:
        for name, onset in demo.problems:
            self._item(patient, primary, Problem, {"name": name}, {"onset_date": onset})
        for name, dose in demo.medications:
            self._item(patient, primary, Medication, {"name": name}, {"dose": dose})
        for substance, reaction, severity in demo.allergies:
            self._item(
                patient,
                primary,
                Allergy,
                {"substance": substance},
                {"reaction": reaction, "severity": severity},
            )
        for name, since in demo.devices:
            self._item(patient, nurse, MedicalDevice, {"name": name}, {"since": since})
        family_name = demo.name.split(" ")[0]
        for n, (given, relationship) in enumerate(demo.family):
            self._item(
                patient,
                nurse,
                EmergencyContact,
                {"name": f"{family_name} {given}"},
                {
                    "relationship": relationship,
                    "phone": _phone(i, n),
                    "is_key_person": n == 0,
                    "note": "平日日中は携帯へ" if n == 0 else "",
                },
            )

    def _item(
        self,
        patient: Patient,
        actor: User,
        model: type[RecordItem],
        keys: dict[str, Any],
        values: dict[str, Any],
    ) -> None:
        """Create or bring back one record item, with the `RecordChange` a real edit leaves.

        Not `update_or_create`: an unchanged item is not saved again, so a second run writes
        no history rows.
        """
        kind = ITEM_TYPES[model]
        item = model._default_manager.filter(patient=patient, **keys).order_by("id").first()
        if item is None:
            manager = model._default_manager
            item = manager.create(patient=patient, updated_by=actor, **keys, **values)
            action = "create"
        elif any(getattr(item, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(item, k, v)
            item.updated_by = actor
            item.save()
            action = "update"
        else:
            return
        RecordChange.objects.create(
            patient=patient,
            item_type=kind,
            item_id=item.pk,
            action=action,
            snapshot=_snapshot(item),
            changed_by=actor,
        )

    def _wishes(self, patient: Patient, primary: User, demo: DemoPatient) -> None:
        hospital = self.orgs["hospital"]
        for kind, preference, wish_hospital in (
            (WishKind.GREEN, demo.green, None),
            (WishKind.YELLOW, demo.yellow, hospital),
        ):
            if not preference:
                continue
            newest = CareWish.objects.filter(patient=patient, kind=kind).first()
            if (
                newest is not None
                and newest.preference == preference
                and newest.hospital_id == (wish_hospital.pk if wish_hospital else None)
            ):
                continue
            # Wishes are append-only: a change is a new version, the old ones stay.
            CareWish.objects.create(
                patient=patient,
                kind=kind,
                preference=preference,
                hospital=wish_hospital,
                note="退院前カンファレンスで本人・家族と確認",
                recorded_by=primary,
            )


def demo_totp_key(username: str) -> str:
    """A demo account's authenticator key (hex), the same on every machine: demo data."""
    return hashlib.sha256(f"kizuna-demo-totp:{username}".encode()).hexdigest()[:40]


def demo_authenticator(user: User) -> TOTPDevice:
    """The demo account's authenticator, enrolled, so a first look signs in with its code."""
    device, _ = TOTPDevice.objects.update_or_create(
        user=user,
        name=DEMO,
        defaults={"key": demo_totp_key(user.username), "confirmed": True},
    )
    return device


def seed_demo() -> list[Patient]:
    """Write (or bring back) the demo network in one transaction; the demo's patients."""
    with transaction.atomic():
        return Seeder().run()


class Command(BaseCommand):
    help = "デモ用の地域連携ネットワーク(中央区在宅医療ネットワーク)を作成・更新します。"

    def handle(self, *args: Any, **options: Any) -> None:
        patients = seed_demo()
        counts = {
            "organizations": Organization.objects.filter(networks__name=NETWORK_NAME).count(),
            "people": User.objects.filter(username__in=PEOPLE).count(),
            "patients": len(patients),
            "care-team places": CareTeamMember.objects.filter(patient__in=patients).count(),
        }
        summary = ", ".join(f"{v} {k}" for k, v in counts.items())
        done = f"デモデータを用意しました ({NETWORK_NAME}): {summary}"
        self.stdout.write(self.style.SUCCESS(done))
        self.stdout.write(f"デモ用ログイン (パスワードは全員共通: {DEMO_PASSWORD})")
        width = max(len(u) for u, _ in KEY_LOGINS)
        for username, role in KEY_LOGINS:
            self.stdout.write(f"  {username.ljust(width)}  {role}")
        self.stdout.write(f"  ほか {len(PEOPLE) - len(KEY_LOGINS)} 名 (例: pt.shimizu, cm.okada)")
        self.stdout.write(
            "二段階認証: 認証アプリ用のキーは manage.py demo_second_factor で表示します"
        )
