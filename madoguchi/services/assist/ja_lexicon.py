"""The Japanese polarity lexicon: words and phrases of customer conversations, scored.

Written for this product (words a customer uses with a shop, a bank, a carrier or a
clinic), in the spirit of the Tohoku polarity dictionaries: each entry is a word as a
person writes it, −1.0 … +1.0. ``sentiment_ja`` turns every entry into Sudachi's
normalised forms once, so 届きません meets 届く and 下さい meets ください.

``EXPECTED`` are neutral verbs of things the customer waits for: said plainly they are
mildly good (届きました), negated they are the commonest complaint (まだ届きません).
"""

from __future__ import annotations

POSITIVE = {
    1.0: "ありがとう 感謝 最高 素晴らしい 大満足 完璧 感激 感動 神対応",
    0.8: """助かる 嬉しい うれしい 満足 良い よい いい 素敵 安心 快適 丁寧 親切 便利 解決
        大好き 好き 楽しい 気に入る 喜ぶ 美味しい おいしい 素早い 迅速 お陰 おかげ 有り難い
        ありがたい 幸い 嬉しく 良かっ 頼もしい 優しい 感心 満点 さすが 流石 感謝感激""",
    0.5: """大丈夫 問題ない 無事 OK オッケー 了解 承知 納得 スムーズ 早い 速い 綺麗 きれい
        可愛い かわいい 元気 楽しみ 助け 分かりやすい わかりやすい 簡単 手軽
        お得 得 安い 正確 正常 順調 改善 回復
        よろしい 宜しい すっきり 安定 十分 充分""",
}
NEGATIVE = {
    1.0: """最悪 最低 ひどい 酷い 許せない 詐欺 激怒 怒り 腹立つ ふざける ありえない
        あり得ない 二度と 訴える 訴訟 ぼったくり クソ くそ 最悪だ 絶望 うんざり
        使い物にならない 論外 話にならない""",
    0.8: """困る 不満 不安 怒る 残念 不快 迷惑 失望 がっかり 悲しい 嫌 いや 嫌い 不便 不親切
        失礼 遅い 遅れる 遅延 壊れる 故障 不良 破損 欠陥 傷 汚い 汚れ 間違い 間違う 誤り
        ミス 不具合 エラー 障害 トラブル 苦情 クレーム
        面倒 めんどう 最悪 遅すぎる 高い 高すぎる 使えない 繋がらない 届かない 動かない
        分からない わからない 何度も 待たす 放置 無視 対応が悪い 被害 損 問題 心配 苛々
        イライラ いらいら 困惑 疲れる 痛い 我慢 ため息 不信 不誠実 不愉快 ガッカリ
        駄目 ダメ だめ 無理 役に立たない 役立たず""",
    0.5: """遅め まだ 未だ 違う 足りない 不足 届いていない 待つ 待っ 急ぐ 至急 早く 何故
        なぜ どうして いつまで 請求 二重 漏れ 紛失 なくす 無くす 失くす 止まる 切れる
        落ちる 消える 悪い わるい 微妙 怪しい 危ない 難しい 複雑 返金 キャンセル 解約""",
}
EXPECTED = """届く 来る 繋がる つながる 使える 動く 直る 治る 返信 連絡 返事 回答 反映 解決
    終わる 戻る 入る 届け できる 出来る ログイン 開く 起動 進む 受け取る 出る 適用 対応"""
INTENSIFIERS = {
    "とても": 1.5,
    "すごく": 1.5,
    "凄く": 1.5,
    "非常": 1.5,
    "本当": 1.4,
    "ほんとう": 1.4,
    "ほんと": 1.4,
    "大変": 1.4,
    "めちゃくちゃ": 1.6,
    "めちゃ": 1.5,
    "マジ": 1.5,
    "まじ": 1.5,
    "超": 1.5,
    "極めて": 1.5,
    "相当": 1.3,
    "かなり": 1.3,
    "全く": 1.5,
    "まったく": 1.5,
    "全然": 1.5,
    "一向": 1.5,
    "何度": 1.3,
    "絶対": 1.4,
    "ずっと": 1.3,
    "少し": 0.6,
    "ちょっと": 0.7,
    "やや": 0.6,
    "若干": 0.6,
}
# Auxiliaries and words that negate the predicate before them.
NEGATORS = frozenset({"ない", "無い", "ず", "ぬ", "ん", "なし", "無し"})
# A contrast turns attention to what follows: "良いのですが、届きません".
CONTRAST = frozenset({"が", "けど", "けれど", "けれども", "しかし", "でも", "ただ", "のに"})


def entries() -> dict[str, float]:
    scores: dict[str, float] = {}
    for table, sign in ((POSITIVE, 1.0), (NEGATIVE, -1.0)):
        for weight, words in table.items():
            for word in words.split():
                scores.setdefault(word, sign * weight)
    return scores
