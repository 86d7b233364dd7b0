"""Function words per language: the profiles language id scores against, and key-phrase boundaries."""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS: dict[str, frozenset[str]] = {
    "en": _words(
        """
        a about above after again against all am an and any are as at be because been before being
        below between both but by can could did do does doing down during each few for from further
        had has have having he her here hers herself him himself his how i if in into is it its itself
        just me more most my myself no nor not now of off on once only or other our ours ourselves out
        over own same she should so some such than that the their theirs them themselves then there
        these they this those through to too under until up very was we were what when where which while
        who whom why will with would you your yours yourself yourselves i'm it's don't can't didn't
        isn't wasn't doesn't won't we're they're you're i've we've i'd we'd i'll we'll that's there's
        let's it'll haven't hasn't aren't weren't couldn't wouldn't shouldn't also still get got
        """
    ),
    "es": _words(
        """
        a al algo algunas algunos ante antes como con contra cual cuando de del desde donde durante e el
        ella ellas ellos en entre era eran es esa esas ese eso esos esta estaba estado estamos estan
        están estar este esto estos estoy fue fueron ha hace hacer han hasta hay la las le les lo los mas
        más me mi mis mucho muy nada ni no nos nosotros o otra otro para pero poco por porque que qué
        quien se sea ser si sí sido sin sobre su sus también tan tanto te tengo tiene tienen todo todos
        tu tus un una uno unos usted ya yo y él cuál cómo está dónde aquí hola nadie nunca siempre vez
        """
    ),
    "fr": _words(
        """
        a à ai au aux avec avez avons avait c ce cela ces cet cette chez comme d dans de des du elle elles
        en est et été être eu fait il ils j je l la le les leur leurs lui m ma mais me même mes moi mon
        ne nous on ont ou où par pas plus pour qu que qui s sa sans se ses si son sont sur ta te tes toi
        ton tous tout toute très tu un une vos votre vous y ça c'est j'ai n'est qu'il d'un d'une l'on
        aussi bien encore déjà
        """
    ),
    "de": _words(
        """
        aber alle als also am an auch auf aus bei bin bis bist da dann das dass dem den der des die dies
        diese diesem diesen dieser doch du durch ein eine einem einen einer eines er es für gegen hat
        hatte haben hier ich ihr ihre im in ist ja jede jetzt kann kein keine man mein meine mich mir
        mit muss nach nicht nichts noch nur ob oder ohne schon sehr sein seine sich sie sind so über um
        und uns unser unter viel vom von vor war waren warum was weil wenn wer werden wie wieder wir
        wird wo zu zum zur zwar immer gibt habe
        """
    ),
    "pt": _words(
        """
        a ao aos as à às com como da das de dela dele do dos e ela ele eles em entre era essa esse esta
        está estão estava este eu foi foram há isso isto já lhe mais mas me meu minha muito na nas não
        nem no nos nós o os ou para pela pelo por porque pouco quando que quem se sem ser seu seus sua
        suas são também tem têm tenho um uma umas uns você vocês ainda bem então agora muita até
        """
    ),
    "it": _words(
        """
        a abbiamo ad agli ai al alla alle allo anche avere c che chi ci come con da dal dalla dei del
        della delle dello di e è ed era erano essere fa gli ha hanno ho i il in io la le lei lo loro lui
        ma mi mia mio molto ne nel nella noi non nostro o per perché più poco quale quando quello questa
        questo se sei si sia sono su sua suo sul sulla tra tu tutto tutti un una uno voi anche ancora
        già sempre cosa stato stata
        """
    ),
    "nl": _words(
        """
        aan al alles als altijd andere ben bij dan dat de der deze die dit doch doen door dus een eens en
        er ge geen geweest haar had heb hebben heeft hem het hier hij hoe hun ik in is ja je kan kon
        kunnen maar me meer men met mij mijn moet na naar niet niets nog nu of om omdat onder ons ook op
        over reeds te tegen toch toen tot u uit uw van veel voor want waren was wat we wel werd wie wij
        wil worden zal ze zei zelf zich zij zijn zo zonder zou erg
        """
    ),
}
"""Common function words of each supported language (ISO 639-1 code → lowercased words)."""
